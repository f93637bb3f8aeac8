"""Declarative Pix rules (conf/rules.yaml): Spark SQL conditions with an action and a reason code.

A rule set is compiled before it is used: Spark's analyzer resolves each condition against the
decision record (pixguard.stream.hot_path.rule_schema) in the JVM (pixguard.serving.SqlCompiler),
which also refuses what cannot run on one payment (an unknown column, a condition that is not a
boolean, an aggregate, an error on a row of zeros and nulls), naming the rule; the watcher keeps the
rule set already in force. The compiled program is what the hot path's executors evaluate. A rule
that passes and still fails on a payment is disabled there (pixguard.serving.DecisionEngine)."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType

log = logging.getLogger("pixguard.domain.rules")

RULE_HITS = "rule_hits"


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
    """A compiled rule set; `version` is the file's version plus a digest of its content, `program`
    the rules compiled for the hot path (src/jvm/pixguard/serving/Serving.scala: RuleProgram)."""

    version: str
    rules: tuple[Rule, ...]
    program: bytes = field(default=b"", repr=False)


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


def compile_rules(spark: SparkSession, text: str, source: str, schema: StructType) -> RuleSet:
    """Parse and compile every condition against `schema` in `spark`'s JVM."""
    from py4j.protocol import Py4JJavaError

    from pixguard.infra.jvm import jvm_package

    version, rules = parse_rules(text, source)
    serving = jvm_package(spark, "pixguard.serving.Serving")
    conditions = json.dumps([rule.model_dump() for rule in rules])
    try:
        program = serving.compileRules(spark._jsparkSession, schema.json(), version, conditions)
    except Py4JJavaError as exc:
        cause = exc.java_exception
        if cause.getClass().getName() != "pixguard.serving.SqlCompiler$CompileError":
            raise
        raise RuleError(f"{source}: {cause.getMessage()}") from None
    return RuleSet(version, tuple(rules), bytes(program))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


class RuleWatcher:
    """Keeps the rule set in force; reloads the file when it changes, at most every `check_interval_s`.

    `fallback` (the rules the query last decided with) is taken when the file does not compile at
    start: a bad edit refused while the job ran must not stop it at its next restart."""

    def __init__(
        self,
        spark: SparkSession,
        path: Path,
        schema: StructType,
        check_interval_s: float,
        fallback: RuleSet | None = None,
    ) -> None:
        # The session is held, not looked up: the watcher runs on a thread of its own, where Spark
        # knows no active session.
        self.spark, self.path, self.schema, self.check_interval_s = spark, path, schema, check_interval_s
        self._mtime_ns = self.path.stat().st_mtime_ns
        self.last_error: str | None = None
        try:
            self.current = compile_rules(spark, self.path.read_text(), str(self.path), schema)
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
            candidate = compile_rules(self.spark, self.path.read_text(), str(self.path), self.schema)
        except RuleError as exc:
            self.last_error = str(exc)
            log.error("rules refused, keeping version %s: %s", self.current.version, exc)
            return False
        self.last_error = None
        changed = candidate.version != self.current.version
        self.current = candidate
        if changed:
            log.info("rules reloaded: version %s", candidate.version)
        return changed
