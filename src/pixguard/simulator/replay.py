"""Replay a user's dataset (Parquet, CSV or JSON Lines in the message schema) to Kafka, for
backtests. The whole file is checked first with the stream's own contract checks: a file that
does not match is refused, naming the offending row and column, before anything is sent."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.schema import FRAUD_REPORT_TYPE
from pixguard.infra.datasets import DatasetError, fraud_flags, message_values, read_dataset, reported_times
from pixguard.infra.producer import AckedSender, make_producer
from pixguard.simulator.reports import report_message
from pixguard.stream.validate import EventTimeBounds, first_refusal


@dataclass(frozen=True)
class ReplaySummary:
    sent: int
    reports: int
    seconds: float

    def text(self) -> str:
        rate = self.sent / self.seconds if self.seconds else 0.0
        return (
            f"replayed {self.sent} transactions in {self.seconds:.1f} s ({rate:,.0f} tx/s), "
            f"{self.reports} fraud reports"
        )


def retimed(frame: pd.DataFrame, anchor: pd.Timestamp, first: bool) -> pd.DataFrame:
    """Shift every time, keeping the gaps between them, so the first payment (replay at the original
    pace: each is sent when its time comes) or the last one (replay at a rate: all are in the past
    when sent) happens at `anchor`."""
    times = pd.to_datetime(frame["event_time"], utc=True, errors="coerce", format="ISO8601")
    shift = anchor - (times.min() if first else times.max())
    out = frame.copy()
    out["event_time"] = times + shift
    if "reported_at" in out.columns:
        out["reported_at"] = pd.to_datetime(out["reported_at"], utc=True, errors="coerce", format="ISO8601") + shift
    return out


def to_json_messages(frame: pd.DataFrame) -> list[bytes]:
    """A real JSON encoder: users' values may hold any character."""
    records = message_values(frame).to_dict("records")
    return [json.dumps(record, default=str).encode() for record in records]


def first_contract_violation(
    spark,  # noqa: ANN001
    project_root: Path,
    config: StreamingConfig,
    messages: list[bytes],
    sent_at: list[pd.Timestamp | None],
) -> str | None:
    """The stream's own parse and contract checks over the messages, each judged at the time it will
    be sent (None: now); the first refusal, described."""
    from pixguard.domain.contract import load_transaction_checks

    rows = [
        (None, m, "replay", 0, i, None if t is None else t.to_pydatetime())
        for i, (m, t) in enumerate(zip(messages, sent_at, strict=True))
    ]
    schema = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
    bounds = EventTimeBounds(config.validation.max_event_age_s, config.validation.max_clock_skew_s)
    return first_refusal(spark.createDataFrame(rows, schema), load_transaction_checks(project_root), bounds)


def replay(
    spark,  # noqa: ANN001
    bundle: Bundle,
    config: StreamingConfig,
    path: Path,
    rate: float | None,
    keep_time: bool = False,
) -> ReplaySummary:
    """Publish the file's rows in event-time order: at `rate` per second, or at the original pace
    when rate is None. Unless keep_time, times are shifted so the replay happens now."""
    frame = read_dataset(path)
    original_pace = rate is None
    if not keep_time:
        frame = retimed(frame, pd.Timestamp.now(tz="UTC"), first=original_pace)
    messages = to_json_messages(frame)
    if original_pace and not keep_time:
        sent_at = list(pd.to_datetime(frame["event_time"], utc=True, errors="coerce", format="ISO8601"))
        sent_at = [None if pd.isna(t) else t for t in sent_at]
    else:
        sent_at = [None] * len(messages)
    problem = first_contract_violation(spark, bundle.project_root, config, messages, sent_at)
    if problem:
        raise DatasetError(f"{path}: {problem}; nothing was sent")
    times = pd.to_datetime(frame["event_time"], utc=True, format="ISO8601")
    order = np.argsort(times.to_numpy(), kind="stable")
    offsets = (times - times.min()).dt.total_seconds().to_numpy()
    keys = (
        frame["payer_ispb"].astype(str)
        + ":"
        + frame["payer_branch"].astype(str)
        + ":"
        + frame["payer_account"].astype(str)
    ).tolist()
    producer = make_producer(bundle.target.kafka)
    sender = AckedSender(producer, config.topics.transactions.name)
    began = time.monotonic()
    for position, index in enumerate(order):
        due = position / rate if rate else offsets[index]
        wait = due - (time.monotonic() - began)
        if wait > 0.001:
            time.sleep(wait)
        sender.send([(keys[index].encode(), messages[index])])
    sent = sender.finish()
    reports = _send_reports(producer, config, frame)
    return ReplaySummary(sent, reports, time.monotonic() - began)


def _send_reports(producer, config: StreamingConfig, frame: pd.DataFrame) -> int:  # noqa: ANN001
    """The file's optional labels (`is_fraud`, `reported_at`: the event time when missing) as fraud reports."""
    flagged = fraud_flags(frame)
    if not flagged.any():
        return 0
    event_time = pd.to_datetime(frame.loc[flagged, "event_time"], utc=True, format="ISO8601")
    labels = pd.DataFrame(
        {
            "end_to_end_id": frame.loc[flagged, "end_to_end_id"].astype(str),
            "reported_at": reported_times(frame)[flagged].fillna(event_time),
            "report_type": FRAUD_REPORT_TYPE,
        }
    )
    sender = AckedSender(producer, config.topics.fraud_reports.name)
    sender.send(report_message(row) for row in labels.itertuples(index=False))
    return sender.finish()
