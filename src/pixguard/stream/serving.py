"""What the hot path decides with, kept current by the driver: the registry's champion and the rules file.

The driver asks the registry (cheaply, at most every few seconds) which version the `champion` alias
points to; a new version is loaded, its LightGBM trees read by the JVM scorer and checked against the
served features before it is published. It reads the rules file when it changes and compiles it the
same way. A failed load, an unreachable registry or a refused file keeps what is in force, and the
error is what the monitoring alerts on. Published: the serving folder beside the checkpoints
(src/jvm/pixguard/serving/Serving.scala), which every executor reads again at most every second."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixguard.config import Bundle, StreamingConfig
from pixguard.domain.rules import RuleSet, RuleWatcher
from pixguard.features.model_input import MODEL_FEATURES, MODEL_INPUT_SQL
from pixguard.infra.jvm import jvm_package
from pixguard.model.registry import CHAMPION

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("pixguard.serving")


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    tracking_uri: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def booster_text(ref: ModelRef) -> str:
    """The LightGBM trees of a registered FraudModel, in LightGBM's own text format."""
    import mlflow

    mlflow.set_tracking_uri(ref.tracking_uri)
    python_model = mlflow.pyfunc.load_model(ref.uri).unwrap_python_model()
    booster = getattr(python_model, "booster", None)
    if booster is None:
        raise ValueError(f"{ref.uri} is not a FraudModel: it holds no LightGBM booster")
    return booster.model_to_string()


def check_model(spark: SparkSession, text: str) -> None:
    """The JVM scorer must read the trees, and they must take exactly the served features."""
    from py4j.protocol import Py4JJavaError

    try:
        jvm_package(spark, "pixguard.serving.Serving").checkModel(text, MODEL_FEATURES)
    except Py4JJavaError as exc:
        raise ValueError(exc.java_exception.getMessage()) from None


class ModelWatcher:
    """Which model version the hot path scores with."""

    def __init__(
        self,
        tracking_uri: str,
        name: str,
        alias: str,
        check_interval_s: float,
        load: Any = booster_text,
        check: Any = None,
        pinned_version: str | None = None,
    ) -> None:
        # A registry that does not answer must cost seconds, not minutes of retries.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
        self.tracking_uri, self.name, self.alias = tracking_uri, name, alias
        self.check_interval_s = check_interval_s
        self._load, self._check = load, check
        self.pinned_version = pinned_version  # a backtest's chosen version: the alias is not asked
        self.current: ModelRef | None = None
        self.text: str | None = None  # the current version's trees
        # The version the hot path decided with before this start (what the serving folder names):
        # without a champion then, the alias went missing, which is an error, not "no model yet".
        self.expected_version: str | None = None
        self.last_error: str | None = None
        self.rejected_versions: set[str] = set()
        self._checked_at = float("-inf")

    def refresh(self, force: bool = False) -> bool:
        """True when a new version took effect."""
        if not force and time.monotonic() - self._checked_at < self.check_interval_s:
            return False
        self._checked_at = time.monotonic()
        from mlflow import MlflowClient
        from mlflow.exceptions import MlflowException

        try:
            version = self.pinned_version or (
                MlflowClient(self.tracking_uri).get_model_version_by_alias(self.name, self.alias).version
            )
        except MlflowException as exc:
            no_champion = getattr(exc, "error_code", "") in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE")
            if no_champion and self.current is None and self.expected_version is None:
                self.last_error = None  # no champion yet: rules alone, and the metrics say so
                return False
            if no_champion and self.current is None:
                self.last_error = (
                    f"{self.name}@{self.alias} does not exist, though the query scored with version"
                    f" {self.expected_version} before it started: deciding with the rules alone"
                )
                log.error("%s", self.last_error)
                return False
            self.last_error = f"registry lookup of {self.name}@{self.alias} failed: {exc}"
            log.error("%s; keeping %s", self.last_error, self.current)
            return False
        except Exception as exc:  # noqa: BLE001 - unreachable server, timeouts: keep scoring with what we have
            self.last_error = f"registry unreachable: {exc}"
            log.error("%s; keeping %s", self.last_error, self.current)
            return False
        version = str(version)
        if self.current is not None and version == self.current.version:
            self.last_error = None
            return False
        if version in self.rejected_versions:
            return False
        candidate = ModelRef(self.name, version, self.tracking_uri)
        try:
            text = self._load(candidate)
        except Exception as exc:  # noqa: BLE001 - a download or load that failed may work next time
            self.last_error = (
                f"model {candidate.uri} could not be loaded (tried again in {self.check_interval_s:g} s): {exc}"
            )
            log.error("%s; keeping %s", self.last_error, self.current)
            return False
        try:
            if self._check is not None:
                self._check(text)
        except Exception as exc:  # noqa: BLE001 - a model that does not fit the features never will
            self.rejected_versions.add(version)
            self.last_error = f"model {candidate.uri} refused: {exc}"
            log.error("%s; keeping %s", self.last_error, self.current)
            return False
        log.info("model %s now scores (was %s)", candidate.uri, self.current and self.current.uri)
        self.current, self.text, self.last_error = candidate, text, None
        return True

    @property
    def version(self) -> str | None:
        return self.current.version if self.current else None


def compile_model_inputs(spark: SparkSession, schema_json: str) -> bytes:
    """MODEL_INPUT_SQL compiled for the JVM: the encodings the model was trained on, evaluated there."""
    serving = jvm_package(spark, "pixguard.serving.Serving")
    return bytes(
        serving.compileInputs(spark._jsparkSession, schema_json, list(MODEL_INPUT_SQL), list(MODEL_INPUT_SQL.values()))
    )


class ServingPublisher:
    """Keeps the serving folder naming the rules and the champion in force, from a driver thread.
    `model_version`: that version instead of the champion (a backtest of a chosen version)."""

    def __init__(
        self,
        spark: SparkSession,
        bundle: Bundle,
        config: StreamingConfig,
        serving_dir: str,
        model_version: str | None = None,
    ) -> None:
        from pixguard.stream.hot_path import rule_schema

        self.spark, self.serving_dir = spark, serving_dir
        self._serving = jvm_package(spark, "pixguard.serving.Serving")
        published = self.published()
        self.models = ModelWatcher(
            bundle.target.mlflow.tracking_uri,
            bundle.target.mlflow.registered_model,
            CHAMPION,  # the alias every promotion, rollback and retraining moves
            config.scoring.model_check_interval_s,
            check=lambda text: check_model(spark, text),
            pinned_version=model_version,
        )
        self.models.expected_version = None if published is None else published.get("model_version")
        path = Path(config.rules.path)
        path = path if path.is_absolute() else bundle.project_root / path
        fallback = None
        if published is not None:
            program = bytes(self._serving.publishedRules(serving_dir))
            fallback = RuleSet(published["rules_version"], (), program)
        self.rules = RuleWatcher(spark, path, rule_schema(spark), config.rules.check_interval_s, fallback=fallback)
        # Both watchers are asked twice per interval: with the executors' own re-read, a change is in
        # force within about one interval.
        self.interval_s = max(0.2, min(config.scoring.model_check_interval_s, config.rules.check_interval_s) / 2)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def published(self) -> dict[str, Any] | None:
        text = self._serving.currentPointer(self.serving_dir)
        return None if text is None else json.loads(text)

    def refresh(self, force: bool = False) -> bool:
        """Ask both watchers; publish when either changed (or `force`). True when something was published."""
        with self._lock:
            model_changed = self.models.refresh(force=force)
            rules_changed = self.rules.refresh(force=force)
            if not (model_changed or rules_changed or force):
                return False
            rules = self.rules.current
            self._serving.publish(
                self.serving_dir, rules.version, bytearray(rules.program), self.models.version, self.models.text
            )
            log.info("serving rules %s, model %s", rules.version, self.models.version)
            return True

    def start(self) -> ServingPublisher:
        """Publish what is in force now (the hot path's first batch decides with it), then keep watching."""
        self.refresh(force=True)
        self._thread = threading.Thread(target=self._loop, name="pixguard-serving", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.refresh()
            except Exception:  # noqa: BLE001 - what is in force keeps deciding; the next round tries again
                log.exception("publishing the serving state failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    @property
    def model_version(self) -> str | None:
        return self.models.version

    @property
    def rules_version(self) -> str | None:
        return self.rules.current.version if self.rules.current else None

    @property
    def model_error(self) -> str | None:
        return self.models.last_error

    @property
    def rules_error(self) -> str | None:
        return self.rules.last_error
