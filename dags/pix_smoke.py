"""Land the smoke topic (pix.smoke) in Delta on demand: the connectors' check, safe beside the stream.

Thin by design: the bundle says what to submit and where; pixguard.orchestration.dags builds it."""

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import DAG

from pixguard.orchestration.dags import bundle_for_dags, dag_settings, spark_submit_spec

JOB = "smoke"
bundle = bundle_for_dags()

with DAG(
    dag_id=f"pix_{JOB}",
    **dag_settings(bundle, JOB),
    tags=["pixguard", "spark"],
) as dag:
    SparkSubmitOperator(
        task_id="ingest_available_now",
        **spark_submit_spec(bundle, JOB, extra_args=["--available-now"]).operator_kwargs(),
    )

if __name__ == "__main__":
    dag.test()
