"""Land Kafka pix.transactions in Delta transactions_raw on demand (the connectors' smoke test).

Thin by design: the bundle says what to submit and where; pixguard.orchestration builds it."""

from datetime import datetime

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG

from pixguard.orchestration import bundle_for_dags, default_args, spark_submit_spec

JOB = "ingest_smoke"
bundle = bundle_for_dags()

with DAG(
    dag_id="pix_ingest_smoke",
    description=bundle.job(JOB).description,
    schedule=bundle.job(JOB).schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(bundle, JOB),
    tags=["pixguard", "spark"],
) as dag:
    SparkSubmitOperator(
        task_id="ingest_available_now",
        **spark_submit_spec(bundle, JOB, extra_args=["--available-now"]).operator_kwargs(),
    )

if __name__ == "__main__":
    dag.test()
