"""Run the continuous fraud-scoring job and keep it running: one instance, restarted from its checkpoint
when it dies or stalls, an ops alert after repeated failures (pixguard.supervisor).

Thin by design: the bundle says what to submit and where; the supervisor is in the package."""

from datetime import datetime

from airflow.sdk import DAG, Param, task

from pixguard.airflow_operators import SupervisedSparkSubmitOperator
from pixguard.orchestration import bundle_for_dags, default_args, spark_submit_spec

JOB = "streaming"
bundle = bundle_for_dags()

with DAG(
    dag_id="pix_streaming",
    description=bundle.job(JOB).description,
    # A scheduled run while the supervisor runs is held back by max_active_runs=1; if the supervisor
    # ever ends, the next one starts it again (or adopts the job it left running).
    schedule=bundle.job(JOB).schedule,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args=default_args(bundle, JOB),
    params={
        "supervise_for_s": Param(None, type=["null", "number"], description="end supervision after (None: never)"),
        "streaming_config": Param(None, type=["null", "string"], description="config file instead of conf/"),
    },
    tags=["pixguard", "spark", "streaming"],
) as dag:

    @task
    def kafka_reachable() -> str:
        from pixguard.kafka_topics import is_reachable

        if not is_reachable(bundle.target.kafka, timeout_s=10):
            raise RuntimeError(f"Kafka at {bundle.target.kafka.bootstrap_servers} is not reachable")
        return bundle.target.kafka.bootstrap_servers

    kafka_reachable() >> SupervisedSparkSubmitOperator(
        task_id="supervise_stream",
        **spark_submit_spec(bundle, JOB).operator_kwargs(),
    )

if __name__ == "__main__":
    dag.test()
