"""Simulated history written straight into the Delta tables the stream reads and writes, so a first
model can be trained before any live traffic: `transactions_truth` (messages + ground truth),
`fraud_labels` (reports received before the end of history), `key_registry` and `dict_marks`
(reference data the stream joins). `stream.backfill` then runs the history through the decision
pipeline to fill `decisions` with features exactly as the stream serves them."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.schema import DICT_MARK_FIELDS, KEY_REGISTRY_FIELDS, TRANSACTION_FIELDS, ddl_of
from pixguard.simulator.generator import TRUTH_COLUMNS, IdSequence, SimulatedTraffic, simulate_window
from pixguard.simulator.live import id_salt
from pixguard.simulator.population import Population, generate_population
from pixguard.simulator.settings import SimulatorConfig
from pixguard.simulator.traffic import WEEKDAY

HISTORY_STREAM = 0
HISTORY_TOPIC = "history"  # the `topic` recorded for history rows, in place of a Kafka topic
# Schemas of the tables history writes besides transactions_truth (which has the message schema + truth).
LABELS_SCHEMA = (
    "end_to_end_id string, reported_at timestamp, report_type string, partition int, offset long, received_at timestamp"
)
KEY_REGISTRY_SCHEMA = ddl_of(KEY_REGISTRY_FIELDS)
DICT_MARKS_SCHEMA = ddl_of(DICT_MARK_FIELDS)


@dataclass(frozen=True)
class HistorySummary:
    start: pd.Timestamp
    end: pd.Timestamp
    transactions: int
    frauds: dict[str, int]
    labels: int
    keys: int
    marks: int
    seconds: float

    def text(self) -> str:
        frauds = ", ".join(f"{k} {v}" for k, v in self.frauds.items())
        return (
            f"history {self.start:%Y-%m-%d %H:%M} .. {self.end:%Y-%m-%d %H:%M} UTC: {self.transactions} transactions, "
            f"{sum(self.frauds.values())} frauds ({frauds}), {self.labels} fraud reports received, "
            f"{self.keys} keys, {self.marks} DICT marks; written in {self.seconds:.1f} s"
        )


def simulate_history(
    simulator: SimulatorConfig, days: float, seed: int, end: pd.Timestamp, population: Population | None = None
) -> tuple[SimulatedTraffic, Population]:
    """`days` of traffic ending at `end`, day by day (weekday volumes), reports and marks seen by `end`."""
    population = population or generate_population(simulator.population)
    rng = np.random.default_rng([seed, 3])
    ids = IdSequence(id_salt(seed, HISTORY_STREAM))
    start = end - pd.Timedelta(days=days)
    windows = []
    day_start = start
    while day_start < end:
        day_end = min(day_start + pd.Timedelta(days=1), end)
        share = (day_end - day_start) / pd.Timedelta(days=1)
        weekday = WEEKDAY[day_start.tz_convert("America/Sao_Paulo").weekday()] / WEEKDAY.mean()
        n = int(round(simulator.history.transactions_per_day * share * weekday))
        windows.append(simulate_window(population, simulator, day_start, day_end, n, ids, rng))
        day_start = day_end
    labels = pd.concat([w.labels for w in windows], ignore_index=True)
    marks = pd.concat([w.dict_marks for w in windows], ignore_index=True)
    traffic = SimulatedTraffic(
        transactions=pd.concat([w.transactions for w in windows], ignore_index=True),
        labels=labels,
        dict_marks=marks.sort_values("marked_at").drop_duplicates("marked_value"),
        new_keys=pd.concat([w.new_keys for w in windows], ignore_index=True),
    )
    return traffic, population


def write_history(
    spark,  # noqa: ANN001
    bundle: Bundle,
    config: StreamingConfig,
    simulator: SimulatorConfig,
    days: float,
    seed: int,
    end: pd.Timestamp | None = None,
) -> HistorySummary:
    """Overwrites the history tables (transactions_truth, fraud_labels, key_registry, dict_marks)."""
    began = time.monotonic()
    end = end or pd.Timestamp.now(tz="UTC").floor("min")
    traffic, population = simulate_history(simulator, days, seed, end)
    tx = traffic.transactions
    truth = tx[[*TRANSACTION_FIELDS, *TRUTH_COLUMNS]].merge(
        traffic.labels[["end_to_end_id", "reported_at", "is_false_report"]], on="end_to_end_id", how="left"
    )
    truth["is_false_report"] = truth["is_false_report"].eq(True)
    truth["event_date"] = pd.DatetimeIndex(truth["event_time"]).tz_convert("UTC").date
    received = traffic.labels[traffic.labels["reported_at"] <= end]
    labels = pd.DataFrame(
        {
            "end_to_end_id": received["end_to_end_id"],
            "reported_at": received["reported_at"],
            "report_type": received["report_type"],
            "partition": -1,
            "offset": np.arange(len(received), dtype=np.int64),
            "received_at": received["reported_at"],
        }
    )
    keys, marks = dict_tables(traffic, population, end)

    tables = config.tables
    _overwrite(spark, truth, bundle.target.table_path(tables.transactions_truth))
    _overwrite(spark, labels, bundle.target.table_path(tables.fraud_labels), LABELS_SCHEMA)
    _overwrite(spark, keys, bundle.target.table_path(tables.key_registry), KEY_REGISTRY_SCHEMA)
    _overwrite(spark, marks, bundle.target.table_path(tables.dict_marks), DICT_MARKS_SCHEMA)
    return HistorySummary(
        start=end - pd.Timedelta(days=days),
        end=end,
        transactions=len(tx),
        frauds=traffic.frauds_by_scenario(),
        labels=len(labels),
        keys=len(keys),
        marks=len(marks),
        seconds=time.monotonic() - began,
    )


def dict_tables(
    traffic: SimulatedTraffic, population: Population, end: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The DICT as it stands at `end`: every key registered by then (key_registry rows) and the marks made."""
    keys = pd.concat([population.keys, traffic.new_keys], ignore_index=True)
    keys = keys[keys["created_at"] <= end].assign(
        owner_document=lambda k: population.document[k["owner"].to_numpy(dtype=np.int64)]
    )
    return keys, traffic.dict_marks[traffic.dict_marks["marked_at"] <= end]


def _overwrite(spark, frame: pd.DataFrame, path: str, schema: str | None = None) -> None:  # noqa: ANN001
    from pyspark.sql import functions as F

    if schema is None:
        df = spark.createDataFrame(frame.reset_index(drop=True)).withColumn(
            "amount_brl", F.col("amount_brl").cast("decimal(18,2)")
        )
    else:
        columns = [part.strip().split(" ")[0] for part in schema.split(",") if not part.strip().startswith("(")]
        df = spark.createDataFrame(frame[columns].reset_index(drop=True), schema)
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
