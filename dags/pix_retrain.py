"""Retrain on decisions + late labels, then apply the promotion policy: the two steps of the CLI.

train (spark-submit jobs/retrain.py --no-promote, as `pixguard model train --no-promote`: quality
gate, training, registration as `challenger`) -> promote (as `pixguard model promote`: the policy on
the challenger, `champion` moved if it passes, the verdict tagged on the version either way).

Scheduled from bundle.yaml (job `retrain`), or triggered on demand, optionally with other settings
files (params). A failing gate fails `train` before anything is registered."""

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, Param, task

from pixguard.orchestration.dags import bundle_for_dags, dag_settings, spark_submit_spec

JOB = "retrain"
bundle = bundle_for_dags()

with DAG(
    dag_id=f"pix_{JOB}",
    **dag_settings(bundle, JOB),
    params={
        "training_settings": Param(
            None, type=["null", "string"], description="instead of model_registry/training.yaml"
        ),
        "promotion_policy": Param(None, type=["null", "string"], description="instead of the promotion policy file"),
    },
    tags=["pixguard", "mlflow", "model"],
) as dag:
    train = SparkSubmitOperator(
        task_id="train",
        **spark_submit_spec(
            bundle,
            JOB,
            extra_args=[
                "--no-promote",
                "--airflow-run={{ run_id }}",
                "--training-settings={{ params.training_settings or '' }}",
                "--promotion-policy={{ params.promotion_policy or '' }}",
            ],
        ).operator_kwargs(),
    )

    @task
    def promote(params: dict | None = None) -> dict:
        from pixguard.config import load_streaming_config
        from pixguard.model.retrain import promote_challenger

        params = params or {}
        config = load_streaming_config(bundle.project_root)
        return promote_challenger(bundle, config, params.get("training_settings"), params.get("promotion_policy"))

    train >> promote()

if __name__ == "__main__":
    dag.test()
