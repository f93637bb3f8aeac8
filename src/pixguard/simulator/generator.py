"""One window of simulated Pix: legitimate payments and fraud incidents mixed in time order, with
end_to_end_ids, the ground truth, the late fraud reports and the DICT marks that follow them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pixguard.domain.schema import FRAUD_REPORT_TYPE, TRANSACTION_FIELDS
from pixguard.simulator.identifiers import end_to_end_ids
from pixguard.simulator.population import Population
from pixguard.simulator.scenarios import SCENARIOS
from pixguard.simulator.settings import DictMarkSettings, LabelSettings, SimulatorConfig
from pixguard.simulator.traffic import legitimate_payments

TRUTH_COLUMNS = ["is_fraud", "scenario", "incident"]
OPTIONAL_FIELDS = ("payee_key", "payee_key_type")  # null when the payment was keyed in by account (MANUAL)


@dataclass(frozen=True)
class SimulatedTraffic:
    transactions: pd.DataFrame  # message fields + ground truth, in event-time order
    labels: pd.DataFrame  # end_to_end_id, reported_at, report_type, is_false_report
    dict_marks: pd.DataFrame  # marked_value, mark_type, marked_at
    new_keys: pd.DataFrame  # keys created during the window (owner, key, key_type, created_at)

    def frauds_by_scenario(self) -> dict[str, int]:
        frauds = self.transactions[self.transactions["is_fraud"]]
        return {name: int((frauds["scenario"] == name).sum()) for name in SCENARIOS}


@dataclass
class IdSequence:
    """Hands out end_to_end_id sequence numbers; one per generator stream (salt)."""

    salt: int
    next_sequence: int = 0

    def take(self, n: int) -> int:
        first, self.next_sequence = self.next_sequence, self.next_sequence + n
        return first


def report_delays_hours(n: int, settings: LabelSettings, rng: np.random.Generator) -> np.ndarray:
    delays = rng.lognormal(np.log(settings.delay_median_hours), settings.delay_sigma, n)
    return np.clip(delays, settings.min_delay_hours, settings.max_delay_days * 24)


def fraud_reports(transactions: pd.DataFrame, settings: LabelSettings, rng: np.random.Generator) -> pd.DataFrame:
    fraud = transactions["is_fraud"].to_numpy()
    reported = np.where(fraud, rng.random(len(fraud)) < settings.report_probability, False)
    false_report = ~fraud & (rng.random(len(fraud)) < settings.false_report_rate)
    chosen = transactions[reported | false_report]
    delay = pd.to_timedelta(report_delays_hours(len(chosen), settings, rng), unit="h")
    return pd.DataFrame(
        {
            "end_to_end_id": chosen["end_to_end_id"].to_numpy(),
            "reported_at": (pd.DatetimeIndex(chosen["event_time"]) + delay).round("ms"),
            "report_type": FRAUD_REPORT_TYPE,
            "is_false_report": ~chosen["is_fraud"].to_numpy(),
            "event_time": pd.DatetimeIndex(chosen["event_time"]),  # to_numpy() would give objects
        }
    )


def dict_marks_after(
    transactions: pd.DataFrame, labels: pd.DataFrame, settings: DictMarkSettings, rng: np.random.Generator
) -> pd.DataFrame:
    """Confirmed (true) reports lead the receiving institution to mark the payee's key and document."""
    confirmed = labels[~labels["is_false_report"]].merge(
        transactions[["end_to_end_id", "payee_key", "payee_document"]], on="end_to_end_id"
    )
    delay = pd.to_timedelta(rng.uniform(settings.min_delay_hours, settings.max_delay_hours, len(confirmed)), "h")
    marked_at = (pd.DatetimeIndex(confirmed["reported_at"]) + delay).round("ms")
    marks = pd.concat(
        [
            pd.DataFrame({"marked_value": confirmed["payee_key"], "mark_type": "KEY", "marked_at": marked_at}),
            pd.DataFrame(
                {"marked_value": confirmed["payee_document"], "mark_type": "DOCUMENT", "marked_at": marked_at}
            ),
        ]
    ).dropna(subset=["marked_value"])
    return marks.sort_values("marked_at").drop_duplicates("marked_value").reset_index(drop=True)


def simulate_window(
    population: Population,
    config: SimulatorConfig,
    start: pd.Timestamp,
    end: pd.Timestamp,
    n_transactions: int,
    ids: IdSequence,
    rng: np.random.Generator,
) -> SimulatedTraffic:
    frauds, scenario_names, new_keys = [], [], []
    for name, share in config.scenarios.items():
        scenario = SCENARIOS[name]
        incidents = int(round(share * n_transactions / scenario.mean_length))
        if incidents:
            built = scenario.build(population, incidents, start, end, rng)
            frauds.append(built.payments)
            scenario_names.append(np.full(len(built.payments), name, dtype=object))
            new_keys.append(built.new_keys)
    n_fraud = sum(len(f) for f in frauds)
    legit = legitimate_payments(population, start, end, max(n_transactions - n_fraud, 0), rng).assign(incident=-1)
    # Truth columns are joined as arrays: concatenating an all-null object column costs a check per row.
    transactions = pd.concat([legit, *frauds], ignore_index=True)
    transactions["scenario"] = np.concatenate([np.full(len(legit), None, dtype=object), *scenario_names])
    transactions["is_fraud"] = np.arange(len(transactions)) >= len(legit)
    transactions = transactions[(transactions["event_time"] >= start) & (transactions["event_time"] < end)]
    transactions = transactions.sort_values("event_time", kind="stable").reset_index(drop=True)
    transactions.insert(
        1,
        "end_to_end_id",
        end_to_end_ids(
            transactions["payer_ispb"].to_numpy(),
            transactions["event_time"],
            ids.salt,
            ids.take(len(transactions)),
        ),
    )
    labels = fraud_reports(transactions, config.labels, rng)
    keys = pd.concat(new_keys, ignore_index=True) if new_keys else population.keys.iloc[:0]
    return SimulatedTraffic(transactions, labels, dict_marks_after(transactions, labels, config.dict_marks, rng), keys)


def iso_millis(times: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC instants as `YYYY-MM-DDTHH:MM:SS.mmmZ` (numpy's formatter: pandas' strftime is 20x slower)."""
    utc = pd.DatetimeIndex(times).tz_convert("UTC").tz_localize(None).to_numpy().astype("datetime64[ms]")
    return np.char.add(np.datetime_as_string(utc, unit="ms"), "Z").astype(object)


def to_messages(transactions: pd.DataFrame) -> list[bytes]:
    """JSON messages (schema_version 1) in the documented format: contract fields only, no truth.

    Filled into a template row by row, several times faster than a JSON encoder on a DataFrame;
    safe because generated values never contain quotes, backslashes or control characters
    (replay.py uses a real encoder for users' data)."""
    columns, slots = [], []
    for name, kind in TRANSACTION_FIELDS.items():
        column = transactions[name]
        if name == "event_time":
            columns.append(iso_millis(column).tolist())
            slots.append(f'"{name}":"%s"')
        elif name in OPTIONAL_FIELDS:
            columns.append(np.where(column.notna(), '"' + column.fillna("").astype(str) + '"', "null").tolist())
            slots.append(f'"{name}":%s')
        elif kind == "string":
            columns.append(column.tolist())
            slots.append(f'"{name}":"%s"')
        else:
            columns.append(column.tolist())
            slots.append(f'"{name}":%s')
    template = "{" + ",".join(slots) + "}"
    return [(template % row).encode() for row in zip(*columns, strict=True)]


def message_keys(transactions: pd.DataFrame) -> list[bytes]:
    """Kafka keys: the payer account (ISPB:branch:account), so a payer's payments keep their order."""
    keys = transactions["payer_ispb"] + ":" + transactions["payer_branch"] + ":" + transactions["payer_account"]
    return [k.encode() for k in keys]
