"""Retrain on decisions + late labels and apply the promotion policy, one visible task per step:

quality_gate -> train -> register_challenger -> promotion_policy -> promote | keep_champion

A failing gate stops the run before training. Scheduled from bundle.yaml (job `retrain`), or triggered
on demand, optionally with other settings files (params). The steps are in pixguard.retraining."""

from airflow.sdk import DAG, Param, task

from pixguard.orchestration import bundle_for_dags, dag_settings

JOB = "retrain"
bundle = bundle_for_dags()


def _inputs(params: dict):  # noqa: ANN202
    from pixguard.config import load_streaming_config
    from pixguard.retraining import settings_from

    settings, policy = settings_from(bundle, params.get("training_settings"), params.get("promotion_policy"))
    return load_streaming_config(bundle.project_root), settings, policy


def _spark():  # noqa: ANN202
    from pixguard.spark import build_spark_session

    return build_spark_session(bundle, JOB)


with DAG(
    dag_id="pix_model_retraining",
    **dag_settings(bundle, JOB),
    params={
        "training_settings": Param(
            None, type=["null", "string"], description="instead of model_registry/training.yaml"
        ),
        "promotion_policy": Param(None, type=["null", "string"], description="instead of the promotion policy file"),
    },
    tags=["pixguard", "mlflow", "model"],
) as dag:

    @task
    def quality_gate(params: dict | None = None) -> dict:
        from pixguard.retraining import quality_gate as gate

        config, settings, _ = _inputs(params or {})
        return gate(_spark(), bundle, config, settings)

    @task
    def train(gate: dict, params: dict | None = None) -> dict:
        from pixguard.retraining import train as train_model

        config, settings, policy = _inputs(params or {})
        return train_model(_spark(), bundle, config, settings, policy, gate)

    @task
    def register_challenger(trained: dict, run_id: str | None = None) -> dict:
        from pixguard.retraining import register_challenger as register

        return register(bundle, trained, run_id or "manual")

    @task
    def promotion_policy(registered: dict, params: dict | None = None) -> dict:
        from pixguard.retraining import promotion_policy as decide

        config, settings, policy = _inputs(params or {})
        return decide(bundle, config, settings, policy, registered["version"])

    @task.branch
    def promote_or_not(verdict: dict) -> str:
        return "promote" if verdict["promote"] else "keep_champion"

    @task
    def promote(verdict: dict, params: dict | None = None) -> dict:
        from pixguard.retraining import promote as move_champion

        config, settings, policy = _inputs(params or {})
        return move_champion(bundle, config, settings, policy, verdict)

    @task
    def keep_champion(verdict: dict) -> dict:
        from pixguard.retraining import keep_champion as keep

        return keep(bundle, verdict)

    verdict = promotion_policy(register_challenger(train(quality_gate())))
    promote_or_not(verdict) >> [promote(verdict), keep_champion(verdict)]

if __name__ == "__main__":
    dag.test()
