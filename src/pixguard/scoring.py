"""Scoring with the registry's champion, vectorised, with the model hot-reloaded between batches.

The driver's `ModelWatcher` asks the registry (cheaply, at most every few seconds) which version
the alias points to; a new version is loaded and checked against the feature signature before it
is used. A failed load or an unreachable registry keeps the model in force and records the error.
Executors load a model version once per Python worker process (`_loaded`) and score Arrow batches."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pixguard.features.model_input import MODEL_FEATURES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger("pixguard.scoring")

SCORE = "score"
MODEL_REASONS = "model_reasons"
_WORKER_MODELS: dict[str, Any] = {}


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    tracking_uri: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


def _loaded(ref: ModelRef) -> Any:
    """One load per Python process and model version (Spark reuses its Python workers)."""
    model = _WORKER_MODELS.get(ref.uri)
    if model is None:
        import mlflow

        mlflow.set_tracking_uri(ref.tracking_uri)
        model = mlflow.pyfunc.load_model(ref.uri)
        _WORKER_MODELS.clear()  # keep only the version in use
        _WORKER_MODELS[ref.uri] = model
    return model


def check_signature(model: Any) -> None:
    """The model must accept every served feature, by name."""
    schema = model.metadata.get_input_schema()
    if schema is None:
        raise ValueError("the model has no input signature")
    missing = sorted(set(MODEL_FEATURES) - set(schema.input_names()))
    if missing:
        raise ValueError(f"the model's signature lacks served features: {missing}")


def score_with_model(df: DataFrame, ref: ModelRef | None, top_reasons: int, explain_from_score: float) -> DataFrame:
    """Add `score` and `model_reasons` (null below `explain_from_score`); without a model both are
    null (rules alone decide).

    One pass: every row goes through the model with all its columns. Scoring the features apart and
    joining the scores back by end_to_end_id computed the batch twice and shuffled it for the join."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType, DoubleType, StringType, StructField, StructType

    if ref is None:
        return df.withColumn(SCORE, F.lit(None).cast("double")).withColumn(
            MODEL_REASONS, F.lit(None).cast("array<string>")
        )
    params = {"top_features": top_reasons, "explain_from_score": explain_from_score}
    scored_schema = StructType(
        [
            *[f for f in df.schema.fields if f.name not in (SCORE, MODEL_REASONS)],
            StructField(SCORE, DoubleType()),
            StructField(MODEL_REASONS, ArrayType(StringType())),
        ]
    )

    def score_partitions(batches):  # noqa: ANN001, ANN202 - runs on executors
        import pandas as pd

        model = _loaded(ref)
        for batch in batches:
            result = model.predict(batch[MODEL_FEATURES].astype("float64"), params=params)
            if isinstance(result, pd.DataFrame) and "score" in result:
                scores, reasons = result["score"], result.get("top_features")
            else:
                scores, reasons = pd.Series(list(result)), None
            batch[SCORE] = pd.to_numeric(scores).to_numpy(dtype="float64")
            batch[MODEL_REASONS] = list(reasons) if reasons is not None else [None] * len(batch)
            yield batch

    return df.mapInPandas(score_partitions, scored_schema)


class ModelWatcher:
    """Which model version scores the next micro-batch."""

    def __init__(self, tracking_uri: str, name: str, alias: str, check_interval_s: float) -> None:
        # A registry that does not answer must cost a micro-batch seconds, not minutes of retries.
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
        self.tracking_uri, self.name, self.alias = tracking_uri, name, alias
        self.check_interval_s = check_interval_s
        self.current: ModelRef | None = None
        # The version the query decided with before this start (its checkpoint's last plan): without
        # a champion then, the alias went missing, which is an error, not "no model yet".
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
            version = MlflowClient(self.tracking_uri).get_model_version_by_alias(self.name, self.alias).version
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
        if self.current is not None and version == self.current.version:
            self.last_error = None
            return False
        if version in self.rejected_versions:
            return False
        candidate = ModelRef(self.name, version, self.tracking_uri)
        try:
            model = _loaded(candidate)
        except Exception as exc:  # noqa: BLE001 - a download or load that failed may work next time
            self.last_error = (
                f"model {candidate.uri} could not be loaded (tried again in {self.check_interval_s:g} s): {exc}"
            )
            log.error("%s; keeping %s", self.last_error, self.current)
            return False
        try:
            check_signature(model)
        except Exception as exc:  # noqa: BLE001 - a model that does not fit the features never will
            self.rejected_versions.add(version)
            self.last_error = f"model {candidate.uri} refused: {exc}"
            log.error("%s; keeping %s", self.last_error, self.current)
            return False
        log.warning("model %s now scores (was %s)", candidate.uri, self.current and self.current.uri)
        self.current, self.last_error = candidate, None
        return True

    @property
    def version(self) -> str | None:
        return self.current.version if self.current else None

    def at_version(self, version: str | None) -> ModelRef | None:
        """The model to score with at `version` (the one a replayed batch recorded), loaded here first
        so that a version that can no longer be loaded raises before the batch runs."""
        if version == self.version:
            return self.current
        if version is None:
            return None
        ref = ModelRef(self.name, version, self.tracking_uri)
        _loaded(ref)
        return ref
