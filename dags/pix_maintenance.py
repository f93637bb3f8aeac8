"""Daily Delta maintenance of `decisions` and `transactions_raw`: compaction (ZORDER BY), VACUUM with a
retention safe for running streams, Great Expectations validation, then a summary of files and bytes.

Thin by design: each step is `jobs/maintenance.py --step ...` (pixguard.orchestration.maintenance)."""

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG, task

from pixguard.orchestration.dags import bundle_for_dags, dag_settings, spark_submit_spec
from pixguard.orchestration.maintenance import STEPS

JOB = "maintenance"
bundle = bundle_for_dags()

with DAG(
    dag_id=f"pix_{JOB}",
    **dag_settings(bundle, JOB),
    tags=["pixguard", "spark", "delta"],
) as dag:
    # Each step runs whatever became of the one before: a compaction that failed or timed out must
    # not stop VACUUM (storage would grow without end) nor the validation. The summary waits on
    # every step and needs them all to succeed, so a failed step still fails the run.
    steps = [
        SparkSubmitOperator(
            task_id=step,
            trigger_rule="all_success" if position == 0 else "all_done",
            **spark_submit_spec(bundle, JOB, extra_args=["--step", step, "--run-id", "{{ run_id }}"]).operator_kwargs(),
        )
        for position, step in enumerate(STEPS)
    ]

    @task
    def summarize(run_id: str | None = None) -> dict:
        from pixguard.orchestration.maintenance import summarize as summary_of

        return summary_of(bundle, run_id or "manual")

    steps[0] >> steps[1] >> steps[2]
    steps >> summarize()

if __name__ == "__main__":
    dag.test()
