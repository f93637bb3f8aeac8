"""Live traffic: simulated Pix published to Kafka at a target rate, event times on the wall clock.

Traffic is generated in chunks (up to a minute of it) on a thread of its own, the next chunk while the
current one is sent, and sent when its event times come due, so event time and publish time agree to
within a slice: no payment waits while the next minute of traffic is made. Fraud reports of the run
are sent to the reports topic when their (optionally compressed) delay has passed, and so are the
DICT marks that confirmed reports lead to. Keys the frauds registered (hours before use) go to the
DICT mirror as their chunk is sent."""

from __future__ import annotations

import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import pandas as pd

from pixguard.config import Bundle, StreamingConfig
from pixguard.infra.producer import AckedSender, make_producer
from pixguard.simulator.dict_feed import key_messages, mark_messages
from pixguard.simulator.generator import IdSequence, SimulatedTraffic, message_keys, simulate_window, to_messages
from pixguard.simulator.population import Population, generate_population
from pixguard.simulator.reports import report_message
from pixguard.simulator.settings import SimulatorConfig

T = TypeVar("T")

PACING_STEP_S = 0.02  # event time and send time differ by at most about this much (when keeping up)
LIVE_STREAM = 1  # end_to_end_id salt stream of live traffic (history uses 0)


def id_salt(seed: int, stream: int) -> int:
    return (seed * 2 + stream) % 2**23


@dataclass
class LiveSummary:
    sent: int = 0
    seconds: float = 0.0
    frauds: Counter = field(default_factory=Counter)
    reports_sent: int = 0
    reports_pending: int = 0
    keys_sent: int = 0
    marks_sent: int = 0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0

    def text(self) -> str:
        frauds = ", ".join(f"{name} {n}" for name, n in sorted(self.frauds.items())) or "none"
        return (
            f"sent {self.sent} transactions in {self.seconds:.1f} s ({self.rate:,.0f} tx/s); "
            f"frauds injected: {sum(self.frauds.values())} ({frauds}); "
            f"fraud reports sent {self.reports_sent}, still pending {self.reports_pending}; "
            f"to the DICT mirror: {self.keys_sent} new keys, {self.marks_sent} fraud marks"
        )


def _chunk_seconds(rate: float) -> float:
    return float(np.clip(200_000 / rate, 2.0, 60.0))


@dataclass
class Chunk:
    window_start: pd.Timestamp
    traffic: SimulatedTraffic
    messages: list[bytes]
    keys: list[bytes]


def _chunks(
    population: Population, simulator: SimulatorConfig, rate: float, count: int, started: pd.Timestamp, seed: int
) -> Iterator[Chunk]:
    """`count` payments at `rate` from `started`, a chunk at a time, each window following the last."""
    rng = np.random.default_rng([seed, 2])
    ids = IdSequence(id_salt(seed, LIVE_STREAM))
    size = int(round(rate * _chunk_seconds(rate)))
    window_start, made = started, 0
    while made < count:
        n = min(size, count - made)
        window_end = window_start + pd.Timedelta(seconds=n / rate)
        traffic = simulate_window(population, simulator, window_start, window_end, n, ids, rng)
        yield Chunk(window_start, traffic, to_messages(traffic.transactions), message_keys(traffic.transactions))
        window_start, made = window_end, made + n


def made_ahead(items: Iterator[T]) -> Iterator[T]:
    """`items` in order, the next one made on a thread while the caller uses the current one; an
    error in the making is raised to the caller."""
    ready: queue.Queue[tuple[T | None, BaseException | None, bool]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def offer(item: T | None, error: BaseException | None = None, last: bool = False) -> bool:
        while not stop.is_set():
            try:
                ready.put((item, error, last), timeout=0.5)
                return True
            except queue.Full:
                continue
        return False

    def make() -> None:
        try:
            for item in items:
                if not offer(item):
                    return
            offer(None, last=True)
        except Exception as exc:  # noqa: BLE001 - raised by the caller
            offer(None, exc)

    threading.Thread(target=make, name="pixguard-live-traffic", daemon=True).start()
    try:
        while True:
            item, error, last = ready.get()
            if error is not None:
                raise error
            if last:
                return
            yield item
    finally:
        stop.set()


def simulate_live(
    bundle: Bundle,
    config: StreamingConfig,
    simulator: SimulatorConfig,
    rate: float,
    count: int,
    seed: int,
    label_time_scale: float = 1.0,
    progress: bool = True,
) -> LiveSummary:
    """Publish `count` transactions at `rate` per second (keys = payer account)."""
    from tqdm import tqdm

    if rate <= 0 or count <= 0:
        raise ValueError("rate and count must be positive")
    population = generate_population(simulator.population)
    producer = make_producer(bundle.target.kafka)
    transactions = AckedSender(producer, config.topics.transactions.name)
    reports = AckedSender(producer, config.topics.fraud_reports.name)
    dict_keys = AckedSender(producer, config.topics.dict_keys.name)
    dict_marks = AckedSender(producer, config.topics.dict_marks.name)
    pending: list[pd.DataFrame] = []
    pending_marks: list[pd.DataFrame] = []
    summary = LiveSummary()
    bar = tqdm(total=count, unit="tx", disable=not progress, smoothing=0.1)
    started = pd.Timestamp.now(tz="UTC")
    clock_start = time.monotonic()
    step = max(1, min(5_000, int(rate * PACING_STEP_S)))
    for chunk in made_ahead(_chunks(population, simulator, rate, count, started, seed)):
        batch = chunk.traffic.transactions
        summary.frauds.update(batch.loc[batch["is_fraud"], "scenario"].tolist())
        due = chunk.traffic.labels.assign(
            reported_at=lambda d: d["event_time"] + (d["reported_at"] - d["event_time"]) / label_time_scale
        )
        pending.append(due)
        pending_marks.append(_compressed_marks(chunk.traffic.dict_marks, chunk.window_start, label_time_scale))
        dict_keys.send(key_messages(chunk.traffic.new_keys, population))
        summary.keys_sent += len(chunk.traffic.new_keys)
        messages, keys = chunk.messages, chunk.keys
        offsets = ((batch["event_time"] - started).dt.total_seconds()).to_numpy()
        for begin in range(0, len(messages), step):
            wait = offsets[min(begin + step, len(messages)) - 1] - (time.monotonic() - clock_start)
            if wait > 0:
                time.sleep(wait)
            transactions.send(zip(keys[begin : begin + step], messages[begin : begin + step], strict=True))
            sent = min(step, len(messages) - begin)
            summary.sent += sent
            bar.update(sent)
            summary.reports_sent += _send_due(reports, pending, "reported_at", _report_messages)
            summary.marks_sent += _send_due(dict_marks, pending_marks, "marked_at", mark_messages)
    transactions.finish()
    summary.seconds = time.monotonic() - clock_start
    summary.reports_sent += _send_due(reports, pending, "reported_at", _report_messages)
    summary.marks_sent += _send_due(dict_marks, pending_marks, "marked_at", mark_messages)
    for sender in (reports, dict_keys, dict_marks):
        sender.finish()
    summary.reports_pending = sum(len(p) for p in pending)
    bar.close()
    return summary


def _send_due(
    sender: AckedSender,
    pending: list[pd.DataFrame],
    due_at: str,
    messages: Callable[[pd.DataFrame], Iterable[tuple[bytes, bytes]]],
) -> int:
    """Send the pending rows whose `due_at` has come; returns how many."""
    now = pd.Timestamp.now(tz="UTC")
    sent = 0
    for index, rows in enumerate(pending):
        due = rows[due_at] <= now
        if due.any():
            sender.send(messages(rows[due]))
            sent += int(due.sum())
            pending[index] = rows[~due]
    pending[:] = [p for p in pending if len(p)]
    return sent


def _report_messages(labels: pd.DataFrame) -> Iterable[tuple[bytes, bytes]]:
    return (report_message(row) for row in labels.itertuples(index=False))


def _compressed_marks(marks: pd.DataFrame, window_start: pd.Timestamp, label_time_scale: float) -> pd.DataFrame:
    """Marks follow confirmed reports by hours; with the reports' delays compressed, so are theirs
    (counted from the window that made them)."""
    return marks.assign(marked_at=lambda d: window_start + (d["marked_at"] - window_start) / label_time_scale)
