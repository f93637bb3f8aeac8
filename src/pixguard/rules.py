"""Declarative Pix rules (conf/rules.yaml): Spark SQL conditions with an action and a reason code.

A rule set is compiled against the schema it will run on before it is used; a file that fails
(bad YAML, unknown column, non-boolean condition, an error on a row of zeros) is refused with the
rule's code and the error, and the watcher keeps the rule set already in force. A rule that
passes and still fails on a micro-batch's payments is disabled there (stream/decisions.py)."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import StructType

log = logging.getLogger("pixguard.rules")

RULE_HITS = "rule_hits"
RULE_ACTION = "rule_action"


class RuleError(ValueError):
    pass


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[A-Z][A-Z0-9_]*$")
    description: str = ""
    when: str
    action: Literal["REVIEW", "BLOCK"]


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    rules: list[Rule]


@dataclass(frozen=True)
class RuleSet:
    """A compiled rule set; `version` is the file's version plus a digest of its content."""

    version: str
    rules: tuple[Rule, ...]

    def apply(self, df: DataFrame) -> DataFrame:
        """Add `rule_hits` (codes of the rules that fired, in file order) and `rule_action`
        (BLOCK if any BLOCK rule fired, else REVIEW if any fired, else null)."""
        from pyspark.sql import functions as F

        if not self.rules:
            return df.withColumn(RULE_HITS, F.array().cast("array<string>")).withColumn(
                RULE_ACTION, F.lit(None).cast("string")
            )
        fired = [F.when(F.coalesce(F.expr(rule.when), F.lit(False)), F.lit(rule.code)) for rule in self.rules]
        blocking = [rule.code for rule in self.rules if rule.action == "BLOCK"]
        hits = F.filter(F.array(*fired), lambda code: code.isNotNull())
        return df.withColumn(RULE_HITS, hits).withColumn(
            RULE_ACTION,
            F.when(F.exists(RULE_HITS, lambda code: code.isin(blocking)), F.lit("BLOCK"))
            .when(F.size(RULE_HITS) > 0, F.lit("REVIEW"))
            .otherwise(F.lit(None).cast("string")),
        )


def parse_rules(text: str, source: str) -> tuple[str, list[Rule]]:
    try:
        data = yaml.safe_load(text)
        parsed = _RuleFile.model_validate(data)
    except yaml.YAMLError as exc:
        raise RuleError(f"{source}: not valid YAML: {exc}") from exc
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        raise RuleError(f"{source}: {key}: {error['msg']}") from None
    codes = [rule.code for rule in parsed.rules]
    if len(codes) != len(set(codes)):
        raise RuleError(f"{source}: rule codes must be unique")
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    return f"{parsed.version}+{digest}", list(parsed.rules)


def compile_rules(text: str, source: str, schema: StructType) -> RuleSet:
    """Parse and check every condition against `schema`: it must analyse as a row-wise boolean (an
    aggregate or a window is refused) and run on a row of zeros and nulls. Spark's ANSI mode fails a
    division by zero at run time, for the whole micro-batch: e.g. a ratio to a new payer's sum."""
    from pyspark.errors import PySparkException
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType, NumericType

    version, rules = parse_rules(text, source)
    spark = SparkSession.getActiveSession()
    if spark is None:
        raise RuleError("rules compile against a running SparkSession")
    zeros = spark.range(1).select(
        *[
            (F.lit(0) if isinstance(f.dataType, NumericType) else F.lit(None)).cast(f.dataType).alias(f.name)
            for f in schema.fields
        ]
    )
    for rule in rules:
        try:
            probe = zeros.withColumn("fired", F.expr(rule.when))
            data_type = probe.schema["fired"].dataType
        except (PySparkException, ValueError) as exc:
            raise RuleError(f"{source}: rule {rule.code}: does not compile: {_first_line(exc)}") from None
        if not isinstance(data_type, BooleanType):
            raise RuleError(f"{source}: rule {rule.code}: condition is {data_type.simpleString()}, not boolean")
        try:
            probe.select("fired").collect()
        except (PySparkException, ValueError) as exc:
            raise RuleError(
                f"{source}: rule {rule.code}: fails on a row of zeros and nulls: {_first_line(exc)}"
            ) from None
    return RuleSet(version, tuple(rules))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


class RuleWatcher:
    """Keeps the rule set in force; reloads the file when it changes, at most every `check_interval_s`.

    `fallback` (the rules the query last decided with) is taken when the file does not compile at
    start: a bad edit refused while the job ran must not stop it at its next restart."""

    def __init__(
        self, path: Path, schema: StructType, check_interval_s: float, fallback: RuleSet | None = None
    ) -> None:
        self.path, self.schema, self.check_interval_s = path, schema, check_interval_s
        self._mtime_ns = self.path.stat().st_mtime_ns
        self.last_error: str | None = None
        try:
            self.current = compile_rules(self.path.read_text(), str(self.path), schema)
        except RuleError as exc:
            if fallback is None:
                raise
            self.current = fallback
            self.last_error = str(exc)
            log.error("rules refused at start, deciding with version %s, as before: %s", fallback.version, exc)
        self._checked_at = time.monotonic()

    def refresh(self, force: bool = False) -> bool:
        """True if a new rule set took effect. A failure keeps the old set and sets `last_error`."""
        if not force and time.monotonic() - self._checked_at < self.check_interval_s:
            return False
        self._checked_at = time.monotonic()
        try:
            mtime_ns = self.path.stat().st_mtime_ns
        except OSError as exc:
            self.last_error = f"{self.path}: cannot read: {exc}"
            return False
        if mtime_ns == self._mtime_ns:
            return False
        self._mtime_ns = mtime_ns
        try:
            candidate = compile_rules(self.path.read_text(), str(self.path), self.schema)
        except RuleError as exc:
            self.last_error = str(exc)
            log.error("rules refused, keeping version %s: %s", self.current.version, exc)
            return False
        self.last_error = None
        changed = candidate.version != self.current.version
        self.current = candidate
        if changed:
            log.warning("rules reloaded: version %s", candidate.version)
        return changed

    def disable(self, rules: RuleSet, codes: list[str], error: Exception) -> None:
        """Rules that fail on a micro-batch's payments (an error no row of zeros showed) are taken out
        of the set in force, until the file changes; the other rules stay."""
        kept = tuple(rule for rule in rules.rules if rule.code not in codes)
        self.current = RuleSet(f"{rules.version}-without-{'+'.join(codes)}", kept)
        self.last_error = (
            f"{self.path}: rule {', '.join(codes)} of version {rules.version} failed on a micro-batch's"
            f" payments and is disabled until the file changes; the other rules stay in force: {_first_line(error)}"
        )
        log.error("%s", self.last_error)
