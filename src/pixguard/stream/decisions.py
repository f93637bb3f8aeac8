"""The foreachBatch body of the decision query: split, enrich, apply rules and model, decide, write.

Every record of a micro-batch ends in exactly one place: `decisions` (scored) or `quarantine`
(invalid, or a repeat of an end_to_end_id already decided). Delta writes are idempotent per batch
(txnAppId/txnVersion), so a batch replayed after a crash is not written twice; a replay decides with
the model, rules, reference table versions and decision time the batch first had
(stream/batch_plan.py), so the decisions it
sends again to Kafka, keyed by end_to_end_id, are the ones already sent."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pixguard.config import Bundle, StreamingConfig
from pixguard.decision import DECISION, REASONS, decide
from pixguard.features.enrich import FEATURE_COLUMNS, IS_DUPLICATE
from pixguard.features.model_input import with_model_features
from pixguard.features.reference import ReferenceLookups, with_calendar_features, with_reference_features
from pixguard.model.registry import CHAMPION
from pixguard.rules import RULE_HITS, RuleWatcher
from pixguard.schema import TRANSACTION_FIELDS
from pixguard.scoring import MODEL_REASONS, SCORE, ModelWatcher, score_with_model
from pixguard.stream.batch_plan import BatchPlan, BatchPlans
from pixguard.stream.reference_tables import ReferenceTables
from pixguard.stream.validate import QUARANTINE_REASONS

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

log = logging.getLogger("pixguard.stream")

SERVED_CONTEXT = ["local_hour", "is_night", "payee_key_age_days", "payee_dict_marked", "payer_dict_marked"]
OUTCOME_COLUMNS = [
    SCORE,
    MODEL_REASONS,
    RULE_HITS,
    DECISION,
    REASONS,
    "model_version",
    "rules_version",
    "decided_at",
    "decision_latency_ms",
]
DECISION_COLUMNS = [
    *TRANSACTION_FIELDS,
    *SERVED_CONTEXT,
    *FEATURE_COLUMNS,
    *OUTCOME_COLUMNS,
    "batch_id",
    "topic",
    "partition",
    "offset",
]
# What pix.decisions carries: the payment's identity and the decision. The served features stay in
# Delta `decisions` (and in pix.alerts, for whoever triages an alert): written as JSON into every
# decision message they made it three times larger, for consumers that act on the decision.
DECISION_EVENT_COLUMNS = [
    "end_to_end_id",
    "event_time",
    "amount_brl",
    "payer_ispb",
    "payer_document",
    "payee_ispb",
    "payee_document",
    "payee_key",
    *OUTCOME_COLUMNS,
]


@dataclass
class BatchOutcome:
    batch_id: int
    consumed: int
    scored: int
    quarantined: int
    duplicates: int
    decisions: dict[str, int] = field(default_factory=dict)
    model_version: str | None = None
    rules_version: str | None = None
    quarantine_reasons: dict[str, int] = field(default_factory=dict)
    phase_ms: dict[str, int] = field(default_factory=dict)  # where the batch spent its time
    # When the batch's decisions were on Kafka (None: not published, e.g. a history backfill).
    # `decided_at` is stamped when the batch starts deciding, before the model and the publishing.
    published_at: datetime | None = None

    @property
    def reconciles(self) -> bool:
        return self.consumed == self.scored + self.quarantined + self.duplicates


# Monitoring hook: called with a batch's decisions (still persisted) and its outcome, once it reconciles.
BatchObserver = Callable[["DataFrame", BatchOutcome], None]


class DecisionBatch:
    """Callable `(batch_df, batch_id) -> None` given to foreachBatch; holds the model and rule watchers."""

    def __init__(
        self,
        bundle: Bundle,
        config: StreamingConfig,
        app_id: Callable[[], str],
        now: Callable[[], datetime] | None = None,
        publish_to_kafka: bool = True,
        plans: BatchPlans | None = None,
    ) -> None:
        self.bundle, self.config = bundle, config
        self.publish_to_kafka = publish_to_kafka  # a history backfill writes Delta only
        # Where a batch's model, rules and clock are recorded, so that a replay decides as it did.
        self.plans = plans
        self._app_id = app_id
        self._now = now or (lambda: datetime.now(UTC))
        scoring = config.scoring
        self.models = ModelWatcher(
            bundle.target.mlflow.tracking_uri,
            bundle.target.mlflow.registered_model,
            CHAMPION,  # the alias every promotion, rollback and retraining moves
            scoring.model_check_interval_s,
        )
        self.rules: RuleWatcher | None = None
        self.reference = ReferenceTables(bundle, config.tables, config.reference_refresh_s)
        self.outcomes: list[BatchOutcome] = []
        self.observers: list[BatchObserver] = []  # monitoring; a failing observer never fails the batch

    # -- the parts, each a DataFrame -> DataFrame step --------------------------------------------

    def enrich(self, transactions: DataFrame, lookups: ReferenceLookups) -> DataFrame:
        return with_calendar_features(transactions).transform(lambda df: with_reference_features(df, lookups))

    def _rules_for(self, enriched: DataFrame, batch_id: int) -> RuleWatcher:
        if self.rules is None:
            path = Path(self.config.rules.path)
            path = path if path.is_absolute() else self.bundle.project_root / path
            recorded = self._last_recorded_plan(enriched, batch_id)
            rules = None if recorded is None else recorded.rules
            self.rules = RuleWatcher(path, enriched.schema, self.config.rules.check_interval_s, fallback=rules)
            self.models.expected_version = None if recorded is None else recorded.model_version
        else:
            self.rules.refresh()
        return self.rules

    def _last_recorded_plan(self, enriched: DataFrame, batch_id: int) -> BatchPlan | None:
        """This batch's plan (a replay) or the plan of the batch before it: the rules and model the
        query decided with before this start."""
        if self.plans is None:
            return None
        spark = enriched.sparkSession
        for recorded_batch in (batch_id, batch_id - 1):
            if recorded_batch >= 0 and (plan := self.plans.recorded(spark, recorded_batch)) is not None:
                return plan
        return None

    def plan(self, enriched: DataFrame, batch_id: int, decided_at: datetime, lookups: ReferenceLookups) -> BatchPlan:
        """The model version, rules, reference table versions and decision time of the batch: the ones
        in force, or for a batch replayed after a crash, the ones it was first decided with."""
        rules = self._rules_for(enriched, batch_id).current
        self.models.refresh()
        spark = enriched.sparkSession
        recorded = None if self.plans is None else self.plans.recorded(spark, batch_id)
        if recorded is not None:
            log.warning(
                "batch %s is a replay: decided again with model %s, rules %s, reference tables %s and"
                " decision time %s, as first",
                batch_id,
                recorded.model_version,
                recorded.rules.version,
                recorded.reference_versions,
                recorded.decided_at.isoformat(),
            )
            return recorded
        return BatchPlan(batch_id, decided_at, self.models.version, rules, lookups.versions)

    def decide(self, transactions: DataFrame, batch_id: int, decided_at: datetime) -> tuple[DataFrame, BatchPlan]:
        from pyspark.sql import functions as F

        spark = transactions.sparkSession
        lookups = self.reference.lookups(spark)
        enriched = self.enrich(transactions, lookups)
        plan = self.plan(enriched, batch_id, decided_at, lookups)
        if plan.reference_versions is not None and plan.reference_versions != lookups.versions:
            pinned = self.reference.lookups_as_of(spark, plan.reference_versions, lookups)
            enriched = self.enrich(transactions, pinned)
        try:
            model = self.models.at_version(plan.model_version)
        except Exception as exc:  # noqa: BLE001 - failing would fail every restart: decide, and say so
            # Set as the watcher's error, so this batch's monitoring raises the model alert.
            self.models.last_error = (
                f"batch {batch_id} is a replay recorded with model version {plan.model_version}, which cannot"
                f" be loaded ({exc}); it is decided with version {self.models.version} instead, and its"
                " decisions may differ from those already published"
            )
            log.error("%s", self.models.last_error)
            model, plan = self.models.current, replace(plan, model_version=self.models.version)
        scoring = self.config.scoring
        scored = score_with_model(
            with_model_features(plan.rules.apply(enriched)),
            model,
            scoring.top_reasons,
            explain_from_score=scoring.review_threshold,  # the only scores a decision gives reasons for
        )
        decided = decide(scored, scoring.review_threshold, scoring.block_threshold)
        decided_lit = F.lit(plan.decided_at).cast("timestamp")
        return decided.select(
            *[
                c
                for c in DECISION_COLUMNS
                if c not in ("model_version", "rules_version", "decided_at", "decision_latency_ms", "batch_id")
            ],
            F.lit(plan.model_version).cast("string").alias("model_version"),
            F.lit(plan.rules.version).alias("rules_version"),
            decided_lit.alias("decided_at"),
            (F.unix_millis(decided_lit) - F.unix_millis("event_time")).alias("decision_latency_ms"),
            F.lit(batch_id).cast("long").alias("batch_id"),
        ).select(*DECISION_COLUMNS), plan

    @staticmethod
    def quarantine(batch: DataFrame, quarantined_at: datetime) -> DataFrame:
        from pyspark.sql import functions as F

        reasons = _quarantine_reasons()
        return batch.where(_is_quarantined()).select(
            reasons[0].alias("reason"),
            reasons.alias("reasons"),
            F.coalesce("end_to_end_id", "raw_end_to_end_id").alias("end_to_end_id"),
            "value",
            "kafka_key",
            "topic",
            "partition",
            "offset",
            "kafka_timestamp",
            F.lit(quarantined_at).cast("timestamp").alias("quarantined_at"),
        )

    # -- I/O ----------------------------------------------------------------------------------------

    def _append_delta(self, df: DataFrame, table: str, batch_id: int) -> None:
        (
            df.write.format("delta")
            .mode("append")
            .option("txnAppId", self._app_id())
            .option("txnVersion", batch_id)
            .option("mergeSchema", "true")
            .save(self.bundle.target.table_path(table))
        )

    def _publish(self, decisions: DataFrame, quarantine: DataFrame | None) -> None:
        """Every decision to pix.decisions, REVIEW and BLOCK with their features to pix.alerts,
        quarantined records to pix.dlq: one Kafka write (a `topic` column), not one Spark job per topic."""
        from functools import reduce

        from pyspark.sql import functions as F

        def keyed(df: DataFrame, topic: str) -> DataFrame:
            return df.select(
                F.lit(topic).alias("topic"),
                F.col("end_to_end_id").alias("key"),
                F.to_json(F.struct(*df.columns)).alias("value"),
            )

        topics = self.config.topics
        records = [
            keyed(decisions.select(*DECISION_EVENT_COLUMNS), topics.decisions.name),
            keyed(decisions.where(F.col(DECISION) != "APPROVE"), topics.alerts.name),
        ]
        if quarantine is not None:
            dead_letters = quarantine.withColumn("value_base64", F.base64("value")).drop("value")
            records.append(keyed(dead_letters, topics.dlq.name))
        reduce(lambda a, b: a.unionByName(b), records).write.format("kafka").options(
            **self.bundle.target.kafka.spark_options()
        ).save()

    def _decided(self, valid: DataFrame, batch_id: int, now: datetime) -> tuple[DataFrame, BatchPlan, dict[str, int]]:
        """The batch's decisions, computed and held (persisted), its plan and the count of each
        decision. A rule that fails on the batch's payments (it passed compile_rules: e.g. a division
        by zero that only real values reach) would fail every retry of the batch: it is disabled, the
        batch is decided with the other rules, and the rules alert is raised."""
        decisions, plan = self.decide(valid, batch_id, now)
        decisions = decisions.persist()
        try:
            return decisions, plan, _count_decisions(decisions)
        except _expression_errors() as exc:
            decisions.unpersist()
            # A replay decides as it first did, or not at all; no failing rule: the error is not theirs.
            failing = [] if plan.replayed or self.rules is None else self._rules_failing_on(valid, plan)
            if not failing:
                raise
            self.rules.disable(plan.rules, failing, exc)
        decisions, plan = self.decide(valid, batch_id, now)
        decisions = decisions.persist()
        return decisions, plan, _count_decisions(decisions)

    def _rules_failing_on(self, valid: DataFrame, plan: BatchPlan) -> list[str]:
        """The codes of the plan's rules whose condition raises on one of these payments, each tried alone."""
        from pyspark.sql import functions as F

        enriched = self.enrich(valid, self.reference.lookups(valid.sparkSession))
        failing = []
        for rule in plan.rules.rules:
            try:  # an aggregate over the condition: every row's value is computed
                enriched.agg(F.max(F.expr(rule.when).cast("int"))).collect()
            except _expression_errors():
                failing.append(rule.code)
        return failing

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        from pyspark.sql import functions as F
        from pyspark.util import inheritable_thread_target

        now = self._now()
        published_at: datetime | None = None
        phase_ms: dict[str, int] = {}
        clock = [time.monotonic()]

        def lap(phase: str) -> None:
            phase_ms[phase] = round((time.monotonic() - clock[0]) * 1000)
            clock[0] = time.monotonic()

        batch = batch_df.withColumn(
            QUARANTINE_REASONS, F.coalesce(QUARANTINE_REASONS, F.array().cast("array<string>"))
        ).persist()
        try:
            # Materialise once (the stateful operators must not run twice), counting the quarantine
            # reasons in the same Spark job: each job costs a micro-batch hundreds of milliseconds.
            reasons = _count_reasons(batch)
            consumed = sum(reasons.values())
            reasons.pop(None, None)  # the rows to decide
            lap("read_validate_features")
            valid = batch.where(~_is_quarantined())  # the rows counted under None above
            decisions, plan, counts = self._decided(valid, batch_id, now)
            if self.plans is not None and not plan.replayed:
                self.plans.record(batch.sparkSession, plan)  # before anything leaves the batch
            quarantine = self.quarantine(batch, plan.decided_at).persist() if reasons else None
            # The Delta appends run beside the Kafka write, whose end is what the payment waits for.
            # Their order does not matter: a crash before both have ended replays the batch with its
            # plan, which sends the same decisions again under the same keys and skips the commits
            # already made (txnAppId/txnVersion).
            # No empty commits: most batches quarantine nothing, and the batches the feature state's
            # event-time timers run without new data decide nothing.
            appends = [(decisions, self.config.tables.decisions)] if counts else []
            appends += [(quarantine, self.config.tables.quarantine)] if quarantine is not None else []
            # The appends' Spark jobs inherit the query's job group and properties from this thread.
            append_delta = inheritable_thread_target(self._append_delta)
            with ThreadPoolExecutor(max_workers=max(1, len(appends)), thread_name_prefix="delta-append") as pool:
                written = [pool.submit(append_delta, df, table, batch_id) for df, table in appends]
                if self.publish_to_kafka:
                    self._publish(decisions, quarantine)
                    published_at = self._now()
                    lap("score_decide_publish_kafka")
                for append in written:
                    append.result()  # raises what the append raised
            lap("write_delta")
            duplicates = reasons.pop("duplicate_end_to_end_id", 0)
            outcome = BatchOutcome(
                batch_id=batch_id,
                consumed=consumed,
                scored=sum(counts.values()),
                quarantined=sum(reasons.values()),
                duplicates=duplicates,
                decisions=counts,
                model_version=plan.model_version,
                rules_version=plan.rules.version,
                quarantine_reasons=reasons,
                phase_ms=phase_ms,
                published_at=published_at,
            )
            lap("count")
            self.outcomes = [*self.outcomes[-99:], outcome]
            if not outcome.reconciles:
                raise RuntimeError(f"batch {batch_id} does not reconcile: {outcome}")
            for observe in self.observers:
                try:
                    observe(decisions, outcome)
                except Exception:  # noqa: BLE001 - metrics must never stop the scoring
                    log.exception("batch observer %r failed on batch %s", observe, batch_id)
            lap("observers")
            log.warning("batch %s: %s", batch_id, json.dumps(outcome.__dict__, default=str))
            decisions.unpersist()
            if quarantine is not None:
                quarantine.unpersist()
        finally:
            batch.unpersist()
            self.reference.release_replayed()


def _expression_errors() -> tuple[type[Exception], ...]:
    """What evaluating a Spark SQL expression on data raises (ANSI arithmetic, casts, dates, indexes);
    not, e.g., a lost executor."""
    from pyspark import errors

    return (
        errors.AnalysisException,
        errors.ArithmeticException,
        errors.ArrayIndexOutOfBoundsException,
        errors.DateTimeException,
        errors.NumberFormatException,
        errors.SparkRuntimeException,
    )


def _is_quarantined() -> Column:
    from pyspark.sql import functions as F

    return (F.size(QUARANTINE_REASONS) > 0) | F.coalesce(F.col(IS_DUPLICATE), F.lit(False))


def _quarantine_reasons() -> Column:
    """A repeat of a decided end_to_end_id has one reason; an invalid record has its own."""
    from pyspark.sql import functions as F

    return F.when(F.col(IS_DUPLICATE), F.array(F.lit("duplicate_end_to_end_id"))).otherwise(F.col(QUARANTINE_REASONS))


def _count_reasons(batch: DataFrame) -> dict[str | None, int]:
    """How many records of the batch have each first quarantine reason; None: the records to decide."""
    from pyspark.sql import functions as F

    reason = F.when(_is_quarantined(), _quarantine_reasons()[0])
    return {r["reason"]: r["n"] for r in batch.groupBy(reason.alias("reason")).agg(F.count("*").alias("n")).collect()}


def _count_decisions(decisions: DataFrame) -> dict[str, int]:
    """How many of each decision; computes, and with a persisted frame holds, every decision."""
    from pyspark.sql import functions as F

    return {r[DECISION]: r["n"] for r in decisions.groupBy(DECISION).agg(F.count("*").alias("n")).collect()}
