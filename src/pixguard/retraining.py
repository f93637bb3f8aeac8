"""The step of Airflow's `pix_model_retraining` that follows training, as `pixguard model promote` does it:

train (spark-submit jobs/retrain.py --no-promote: gate, train, register the `challenger`)
  -> promote_challenger (the promotion policy on the challenger; `champion` moves if it passes)

The training is the job `pixguard model train` runs; the promotion is the registry's `promote`, the
same function the CLI calls. A refusal is an outcome, recorded on the version, not a failed task.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pixguard.model.settings import load_promotion_policy, load_training_settings

if TYPE_CHECKING:
    from pixguard.config import Bundle, StreamingConfig


def promote_challenger(
    bundle: Bundle, config: StreamingConfig, training_file: str | None = None, policy_file: str | None = None
) -> dict:
    """The version behind `challenger`, through the promotion policy (model_registry/ by default; a
    run may name other files, as the job was given)."""
    from pixguard.model import registry

    uri, name = bundle.target.mlflow.tracking_uri, bundle.target.mlflow.registered_model
    settings = load_training_settings(bundle.project_root, Path(training_file) if training_file else None)
    policy = load_promotion_policy(bundle.project_root, Path(policy_file) if policy_file else None)
    version = registry.alias_version(registry.registry_client(uri), name, registry.CHALLENGER)
    if version is None:
        raise registry.RegistryError(f"{name} has no {registry.CHALLENGER} version to promote")
    try:
        result = registry.promote(uri, name, version, policy, config.scoring.review_threshold, settings.alert_budgets)
    except registry.RegistryError as exc:  # already champion: nothing to move
        return {"version": version, "promoted": False, "reason": str(exc)}
    return {"version": version, "promoted": result.promoted, "reason": result.decision.reason}
