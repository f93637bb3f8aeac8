"""Run the continuous fraud-scoring job and keep it running: one instance, restarted from its checkpoint
when it dies or stalls, an ops alert after repeated failures (pixguard.orchestration.supervisor).

Thin by design: the bundle says what to submit and where; the supervisor is in the package."""

from airflow.sdk import DAG, Param, task

from pixguard.orchestration.dags import bundle_for_dags, dag_settings, spark_submit_spec
from pixguard.orchestration.operators import SupervisedSparkSubmitOperator

JOB = "streaming"
bundle = bundle_for_dags()

with DAG(
    dag_id=f"pix_{JOB}",
    **dag_settings(bundle, JOB),
    params={
        "supervise_for_s": Param(None, type=["null", "number"], description="end supervision after (None: never)"),
        "streaming_config": Param(None, type=["null", "string"], description="config file instead of conf/"),
    },
    tags=["pixguard", "spark", "streaming"],
) as dag:

    @task
    def kafka_reachable() -> str:
        from pixguard.infra.kafka_topics import is_reachable

        if not is_reachable(bundle.target.kafka, timeout_s=10):
            raise RuntimeError(f"Kafka at {bundle.target.kafka.bootstrap_servers} is not reachable")
        return bundle.target.kafka.bootstrap_servers

    kafka_reachable() >> SupervisedSparkSubmitOperator(
        task_id="supervise_stream",
        **spark_submit_spec(bundle, JOB).operator_kwargs(),
    )

if __name__ == "__main__":
    dag.test()
