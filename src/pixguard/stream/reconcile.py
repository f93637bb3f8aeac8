"""Reconciliation from the archive: every record consumed from pix.transactions has exactly one
outcome, a row in `decisions` or in `quarantine`, per Kafka partition and offset.

What was consumed is `transactions_raw` (raw_ingest lands every record as received, exactly once);
the outcomes name their source record (topic, partition, offset). Per partition, up to the offset
both sides have reached (the archive and the raw landing run on their own triggers, so the newest
records may be in one and not yet in the other), the offsets without an outcome are reported as
ranges, as are outcomes of records never consumed and records with more than one outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.infra.delta_tables import read_if_exists

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class PartitionReconciliation:
    partition: int
    first_offset: int
    last_offset: int  # the newest offset both the raw landing and the archive have reached
    consumed: int
    decided: int
    quarantined: int
    without_outcome: list[tuple[int, int]] = field(default_factory=list)  # inclusive offset ranges
    never_consumed: list[tuple[int, int]] = field(default_factory=list)
    repeated: list[tuple[int, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.without_outcome or self.never_consumed or self.repeated)


@dataclass(frozen=True)
class Reconciliation:
    topic: str
    partitions: list[PartitionReconciliation]

    @property
    def ok(self) -> bool:
        return all(p.ok for p in self.partitions)

    def text(self) -> str:
        lines = [f"{self.topic}: {'reconciled' if self.ok else 'NOT reconciled'}"]
        for p in self.partitions:
            line = (
                f"  partition {p.partition} offsets {p.first_offset}-{p.last_offset}: consumed {p.consumed},"
                f" decided {p.decided}, quarantined {p.quarantined}"
            )
            for name in ("without_outcome", "never_consumed", "repeated"):
                ranges = getattr(p, name)
                if ranges:
                    shown = ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges[:10])
                    more = f" (+{len(ranges) - 10} more ranges)" if len(ranges) > 10 else ""
                    line += f"; {name.replace('_', ' ')}: {shown}{more}"
            lines.append(line)
        return "\n".join(lines)


def offset_ranges(offsets: DataFrame) -> DataFrame:
    """(partition, offset) rows -> (partition, first, last): the runs of consecutive offsets."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    run = F.col("offset") - F.row_number().over(Window.partitionBy("partition").orderBy("offset"))
    return (
        offsets.select("partition", "offset")
        .distinct()
        .withColumn("_run", run)
        .groupBy("partition", "_run")
        .agg(F.min("offset").alias("first"), F.max("offset").alias("last"))
        .drop("_run")
    )


def reconcile(spark: SparkSession, bundle: Bundle, config: StreamingConfig) -> Reconciliation:
    from pyspark.sql import functions as F

    topic, tables, target = config.topics.transactions.name, config.tables, bundle.target
    frames = {
        name: read_if_exists(spark, target.table_path(table))
        for name, table in (
            ("raw", tables.transactions_raw),
            ("decided", tables.decisions),
            ("quarantined", tables.quarantine),
        )
    }
    empty = spark.createDataFrame([], "partition int, offset long")

    def offsets(name: str) -> DataFrame:
        frame = frames[name]
        if frame is None:
            return empty
        return frame.where(F.col("topic") == topic).select(F.col("partition").cast("int"), F.col("offset").cast("long"))

    raw = offsets("raw")
    outcomes = (
        offsets("decided")
        .withColumn("kind", F.lit("decided"))
        .unionByName(offsets("quarantined").withColumn("kind", F.lit("quarantined")))
    )
    reached = (
        raw.groupBy("partition")
        .agg(F.min("offset").alias("first"), F.max("offset").alias("raw_last"))
        .join(outcomes.groupBy("partition").agg(F.max("offset").alias("outcome_last")), "partition", "left")
        .select("partition", "first", F.least("raw_last", F.coalesce("outcome_last", F.lit(-1))).alias("last"))
    )
    within = ["partition"]

    def bounded(frame: DataFrame) -> DataFrame:
        return frame.join(reached, within).where(F.col("offset").between(F.col("first"), F.col("last")))

    raw_in, outcomes_in = bounded(raw).select("partition", "offset"), bounded(outcomes)
    counts = {
        r.partition: r
        for r in raw_in.groupBy("partition")
        .agg(F.count("*").alias("consumed"))
        .join(
            outcomes_in.groupBy("partition").agg(
                F.count_if(F.col("kind") == "decided").alias("decided"),
                F.count_if(F.col("kind") == "quarantined").alias("quarantined"),
            ),
            "partition",
            "left",
        )
        .collect()
    }
    outcome_offsets = outcomes_in.select("partition", "offset")

    def ranges(frame: DataFrame) -> dict[int, list[tuple[int, int]]]:
        found: dict[int, list[tuple[int, int]]] = {}
        for r in offset_ranges(frame).orderBy("partition", "first").collect():
            found.setdefault(r.partition, []).append((r.first, r.last))
        return found

    missing = ranges(raw_in.join(outcome_offsets, ["partition", "offset"], "left_anti"))
    stray = ranges(outcome_offsets.join(raw_in, ["partition", "offset"], "left_anti"))
    repeated = ranges(outcome_offsets.groupBy("partition", "offset").count().where("count > 1"))
    partitions = [
        PartitionReconciliation(
            partition=r.partition,
            first_offset=r.first,
            last_offset=r.last,
            consumed=counts[r.partition].consumed if r.partition in counts else 0,
            decided=(counts[r.partition].decided or 0) if r.partition in counts else 0,
            quarantined=(counts[r.partition].quarantined or 0) if r.partition in counts else 0,
            without_outcome=missing.get(r.partition, []),
            never_consumed=stray.get(r.partition, []),
            repeated=repeated.get(r.partition, []),
        )
        for r in reached.orderBy("partition").collect()
    ]
    return Reconciliation(topic, partitions)
