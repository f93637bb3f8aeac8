"""What a micro-batch decides with, recorded in the query's checkpoint before anything leaves it
(once its decisions are computed: a plan whose rules or model fail is never recorded).

The decision query publishes to Kafka before it commits to Delta (Kafka is what waits for the
decision). A crash between the two replays the batch; without a record the replay decided again
with whatever model, rules, reference tables and clock were current then, so the row committed to
`decisions` could differ from the decision already published. The replay now reads the batch's plan
back: the same model version, rules, reference table versions and decision time. A reference table
version that can no longer be read (vacuumed) gives way to the tables in force, with an error logged."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from pixguard.rules import Rule, RuleSet
from pixguard.stream import checkpoint_files

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

PLANS_FOLDER = "pixguard_batch_plans"  # inside the decision query's checkpoint
KEEP_PLANS = 100  # as many batches as Spark keeps by default (spark.sql.streaming.minBatchesToRetain)


@dataclass(frozen=True)
class BatchPlan:
    batch_id: int
    decided_at: datetime
    model_version: str | None
    rules: RuleSet
    # The Delta version of each reference table the batch joined (None: the table did not exist);
    # None for a plan recorded before the versions were.
    reference_versions: dict[str, int | None] | None = None
    replayed: bool = False  # read back from the checkpoint: the batch is decided again

    def to_json(self) -> str:
        return json.dumps(
            {
                "batch_id": self.batch_id,
                "decided_at": self.decided_at.isoformat(),
                "model_version": self.model_version,
                "rules_version": self.rules.version,
                "rules": [rule.model_dump() for rule in self.rules.rules],
                "reference_versions": self.reference_versions,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> BatchPlan:
        data = json.loads(text)
        rules = RuleSet(data["rules_version"], tuple(Rule.model_validate(r) for r in data["rules"]))
        return cls(
            data["batch_id"],
            datetime.fromisoformat(data["decided_at"]),
            data["model_version"],
            rules,
            data.get("reference_versions"),
            replayed=True,
        )


class BatchPlans:
    """One small file per batch under `<checkpoint>/pixguard_batch_plans`, the last KEEP_PLANS of them."""

    def __init__(self, checkpoint: str) -> None:
        self.folder = f"{checkpoint.rstrip('/')}/{PLANS_FOLDER}"

    def _path(self, batch_id: int) -> str:
        return f"{self.folder}/{batch_id}.json"

    def recorded(self, spark: SparkSession, batch_id: int) -> BatchPlan | None:
        text = checkpoint_files.read_text(spark, self._path(batch_id))
        return None if text is None else BatchPlan.from_json(text)

    def record(self, spark: SparkSession, plan: BatchPlan) -> None:
        checkpoint_files.write_text(spark, self._path(plan.batch_id), plan.to_json())
        if plan.batch_id >= KEEP_PLANS:
            checkpoint_files.delete(spark, self._path(plan.batch_id - KEEP_PLANS))
