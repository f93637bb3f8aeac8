"""The registered model's aliases: `challenger` for a new version, `champion` for the one the stream
serves. Every move is recorded on the registered model as a tag `alias_move.<utc ms>` holding JSON
(when, alias, to and from which version, why, forced or not, by whom), so the history survives any
client and rollback is one call: the champion goes back to the version it replaced.

Promotion needs no Spark: each trained version logs its held-out test set with its run, and both
the challenger and the champion are scored on that same set before the policy decides."""

from __future__ import annotations

import getpass
import json
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from pixguard.features.model_input import MODEL_FEATURES
from pixguard.model.metrics import evaluate_scores
from pixguard.model.policy import Evaluation, PromotionDecision, decide_promotion
from pixguard.model.settings import PromotionPolicy

CHAMPION, CHALLENGER = "champion", "challenger"
MOVE_TAG_PREFIX = "alias_move."
TEST_SET_ARTIFACT = "evaluation/test_set.parquet"
TEST_WINDOW_TAG = "test_window"
AMOUNT, LABEL = "amount_brl_value", "label"
LISTED_METRICS = ["average_precision", "roc_auc", "precision_at_1pct", "recall_at_1pct", "alert_rate"]


class RegistryError(RuntimeError):
    pass


@dataclass(frozen=True)
class AliasMove:
    at: str
    alias: str
    version: str
    from_version: str | None
    reason: str
    forced: bool = False
    kind: str = "promote"  # promote | rollback | register
    by: str = ""


def registry_client(tracking_uri: str) -> Any:
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri)


def alias_version(client: Any, name: str, alias: str) -> str | None:
    """The version behind the alias; None when the model or the alias does not exist. Any other
    failure (the registry unreachable) raises: taken for "no champion", it would let a challenger
    be promoted without being compared with the champion."""
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(name, alias).version)
    except MlflowException as exc:
        # MLflow's stores answer an unknown alias with INVALID_PARAMETER_VALUE, an unknown model
        # with RESOURCE_DOES_NOT_EXIST.
        if exc.error_code in ("INVALID_PARAMETER_VALUE", "RESOURCE_DOES_NOT_EXIST"):
            return None
        raise


def move_alias(
    client: Any, name: str, alias: str, version: str, reason: str, forced: bool = False, kind: str = "promote"
) -> AliasMove:
    now = datetime.now(UTC)
    move = AliasMove(
        at=now.isoformat(timespec="milliseconds"),
        alias=alias,
        version=str(version),
        from_version=alias_version(client, name, alias),
        reason=reason,
        forced=forced,
        kind=kind,
        by=_user(),
    )
    client.set_registered_model_alias(name, alias, str(version))
    # Millisecond keys sort in time order; a same-millisecond move gets the next free key.
    key_ms = int(now.timestamp() * 1000)
    existing = set(client.get_registered_model(name).tags)
    while f"{MOVE_TAG_PREFIX}{key_ms:013d}" in existing:
        key_ms += 1
    client.set_registered_model_tag(name, f"{MOVE_TAG_PREFIX}{key_ms:013d}", json.dumps(asdict(move)))
    return move


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"


def alias_history(client: Any, name: str) -> list[AliasMove]:
    tags = client.get_registered_model(name).tags
    return [AliasMove(**json.loads(tags[k])) for k in sorted(tags) if k.startswith(MOVE_TAG_PREFIX)]


def champion_stack(moves: list[AliasMove]) -> list[str]:
    """The champions in force over time, newest last: a promotion pushes, a rollback pops. A
    champion set outside this module (e.g. in the MLflow UI) shows up as the `from_version` of the
    next recorded move, which then pushes it first: a rollback returns to it, not to the version
    it replaced."""
    stack: list[str] = []
    for move in moves:
        if move.alias != CHAMPION:
            continue
        if move.from_version and (not stack or stack[-1] != move.from_version):
            stack.append(move.from_version)
        if move.kind == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != move.version:
                stack.append(move.version)
            continue
        if not stack or stack[-1] != move.version:
            stack.append(move.version)
    return stack


def rollback(tracking_uri: str, name: str, reason: str = "rollback") -> AliasMove:
    """Champion back to the version the current one replaced."""
    client = registry_client(tracking_uri)
    stack = champion_stack(alias_history(client, name))
    current = alias_version(client, name, CHAMPION)
    if len(stack) < 2 or stack[-1] != current:
        raise RegistryError(
            f"no recorded previous champion of {name} to roll back to (champion: {current}, recorded: {stack})"
        )
    move = move_alias(client, name, CHAMPION, stack[-2], reason, kind="rollback")
    client.set_model_version_tag(name, current, "promotion_status", "rolled_back")
    return move


# ------------------------------------------------------------------ evaluation on the same window


def log_test_set(test: pd.DataFrame, window: str, folder: Path) -> None:
    """Inside an active run: the held-out rows every later comparison will be made on (features include
    the amount, which the R$ metrics need)."""
    import mlflow

    path = folder / Path(TEST_SET_ARTIFACT).name
    folder.mkdir(parents=True, exist_ok=True)
    test[[*MODEL_FEATURES, LABEL]].to_parquet(path, index=False)
    mlflow.log_artifact(str(path), artifact_path=str(Path(TEST_SET_ARTIFACT).parent))
    mlflow.set_tag(TEST_WINDOW_TAG, window)


def test_set_of(client: Any, name: str, version: str) -> tuple[pd.DataFrame, str] | None:
    import tempfile

    run_id = client.get_model_version(name, version).run_id
    if not run_id:
        return None
    run = client.get_run(run_id)
    window = run.data.tags.get(TEST_WINDOW_TAG)
    if window is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        return pd.read_parquet(client.download_artifacts(run_id, TEST_SET_ARTIFACT, folder)), window


def batch_scoring_ms(predict: Any, test: pd.DataFrame, rows: int, repeats: int = 3) -> float:
    """Median time to score one micro-batch-sized frame (rows resampled from the test set)."""
    batch = test[MODEL_FEATURES].sample(n=rows, replace=len(test) < rows, random_state=0)
    timings = []
    for _ in range(repeats):
        began = time.perf_counter()
        predict(batch)
        timings.append((time.perf_counter() - began) * 1000)
    return statistics.median(timings)


def evaluate_model(
    model: Any,
    version: str,
    test: pd.DataFrame,
    window: str,
    policy: PromotionPolicy,
    budgets: tuple[float, ...],
    review_threshold: float,
) -> Evaluation:
    def predict(frame: pd.DataFrame) -> np.ndarray:
        # As the stream scores: reasons only for the scores that a decision reports them for.
        result = model.predict(frame, params={"explain_from_score": review_threshold})
        return np.asarray(result["score"] if isinstance(result, pd.DataFrame) else result, dtype=float)

    scores = predict(test[MODEL_FEATURES])
    metrics = evaluate_scores(test[LABEL], scores, test[AMOUNT], budgets, review_threshold)
    elapsed = batch_scoring_ms(predict, test, policy.guardrails.scoring_batch_rows)
    return Evaluation(str(version), metrics, elapsed, window)


def evaluate_version(
    tracking_uri: str,
    name: str,
    version: str,
    test: pd.DataFrame,
    window: str,
    policy: PromotionPolicy,
    budgets: tuple[float, ...],
    review_threshold: float,
) -> Evaluation:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(f"models:/{name}/{version}")
    return evaluate_model(model, version, test, window, policy, budgets, review_threshold)


# ------------------------------------------------------------------ promotion


@dataclass(frozen=True)
class PromotionResult:
    decision: PromotionDecision
    move: AliasMove | None
    challenger: Evaluation | None
    champion: Evaluation | None

    @property
    def promoted(self) -> bool:
        return self.move is not None


def promote(
    tracking_uri: str,
    name: str,
    version: str,
    policy: PromotionPolicy,
    review_threshold: float,
    budgets: tuple[float, ...] = (0.005, 0.01),
    force: bool = False,
    reason: str | None = None,
    challenger_eval: Evaluation | None = None,
) -> PromotionResult:
    """Check the policy on the challenger's own test window and move `champion` if it passes (or if
    forced: then the move says so, with the policy's verdict kept next to the given reason)."""
    client = registry_client(tracking_uri)
    version = str(version)
    current = alias_version(client, name, CHAMPION)
    if current == version:
        raise RegistryError(f"{name} version {version} is already the champion")
    found = test_set_of(client, name, version)
    if found is None and not force:
        raise RegistryError(f"{name} version {version} has no logged test set to check the policy on (use --force)")
    challenger = champion = None
    if found is not None:
        test, window = found

        def evaluate(v: str) -> Evaluation:
            return evaluate_version(tracking_uri, name, v, test, window, policy, budgets, review_threshold)

        challenger = challenger_eval or evaluate(version)
        champion = evaluate(current) if current else None
        decision = decide_promotion(policy, challenger, champion)
    else:
        decision = PromotionDecision(False, "not checked: the version has no logged test set")
    _tag_evaluation(client, name, version, challenger, champion)
    if decision.promote or force:
        forced = not decision.promote
        why = reason or decision.reason
        if forced:
            why = f"{reason or 'forced'} (override; policy said: {decision.reason})"
        move = move_alias(client, name, CHAMPION, version, why, forced=forced)
        client.set_model_version_tag(name, version, "promotion_status", "forced" if forced else "promoted")
        client.set_model_version_tag(name, version, "promotion_reason", why)
        return PromotionResult(decision, move, challenger, champion)
    client.set_model_version_tag(name, version, "promotion_status", "refused")
    client.set_model_version_tag(name, version, "promotion_refused_reason", decision.reason)
    return PromotionResult(decision, None, challenger, champion)


def _tag_evaluation(
    client: Any, name: str, version: str, challenger: Evaluation | None, champion: Evaluation | None
) -> None:
    if challenger is None:
        return
    client.set_model_version_tag(name, version, "policy_checked_at", datetime.now(UTC).isoformat(timespec="seconds"))
    client.set_model_version_tag(name, version, "policy_window", challenger.window)
    client.set_model_version_tag(name, version, "compared_with_champion", champion.version if champion else "none")
    for metric in ("average_precision", "alert_rate"):
        client.set_model_version_tag(name, version, f"policy_{metric}", f"{challenger.metrics[metric]:.4f}")
        if champion is not None:
            client.set_model_version_tag(name, version, f"champion_{metric}", f"{champion.metrics[metric]:.4f}")
    client.set_model_version_tag(name, version, "policy_batch_scoring_ms", f"{challenger.batch_scoring_ms:.1f}")


# ------------------------------------------------------------------ listing


@dataclass(frozen=True)
class VersionRow:
    version: str
    aliases: list[str]
    created: str
    status: str
    metrics: dict[str, float]
    note: str


def list_versions(tracking_uri: str, name: str) -> list[VersionRow]:
    client = registry_client(tracking_uri)
    # search_model_versions leaves the aliases out of its results: they come from the model itself.
    aliases_of: dict[str, list[str]] = {}
    for alias, version in client.get_registered_model(name).aliases.items():
        aliases_of.setdefault(str(version), []).append(alias)
    rows = []
    for mv in client.search_model_versions(f"name='{name}'"):
        metrics = client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        tags = mv.tags or {}
        created = datetime.fromtimestamp(mv.creation_timestamp / 1000, UTC).strftime("%Y-%m-%d %H:%M")
        rows.append(
            VersionRow(
                version=str(mv.version),
                aliases=sorted(aliases_of.get(str(mv.version), [])),
                created=created,
                status=tags.get("promotion_status", ""),
                metrics={m: metrics[m] for m in LISTED_METRICS if m in metrics},
                note=tags.get("promotion_refused_reason") or tags.get("promotion_reason", ""),
            )
        )
    return sorted(rows, key=lambda r: int(r.version), reverse=True)
