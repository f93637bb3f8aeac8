"""The one operator pixguard adds to Airflow: the Spark provider's SparkSubmitOperator, supervised, and
the DAG of a continuous job built on it.

It builds the spark-submit command exactly as the provider does (connection, Spark conf, name and
arguments from the bundle), then hands it to `pixguard.orchestration.supervisor`, which keeps one
instance of the continuous job running: restarts it from its checkpoint when it dies or stalls, and
alerts after repeated failures. Imported by DAG files only (it imports Airflow)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator


class SupervisedSparkSubmitOperator(SparkSubmitOperator):
    """`job`: the bundle's continuous job it keeps running. Run params: `supervise_for_s` (None: until
    stopped) and `streaming_config` (a config file path)."""

    def __init__(self, *, job: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job

    def execute(self, context: Any) -> dict:
        from pixguard.config import load_streaming_config
        from pixguard.orchestration.dags import bundle_for_dags
        from pixguard.orchestration.supervisor import supervise_job

        params = context.get("params") or {}
        bundle = bundle_for_dags()
        config_file = _in_project(bundle.project_root, params.get("streaming_config"))
        if config_file:  # absolute: the job runs in another working directory than this task
            self.application_args = [*(self.application_args or []), "--config", str(config_file)]
        hook = self._get_hook()
        command = hook._build_spark_submit_command(self.application)
        env = {**os.environ, **{k: str(v) for k, v in (hook._env or {}).items()}}
        config = load_streaming_config(bundle.project_root, path=config_file)
        run_for = params.get("supervise_for_s")
        run_for_s = None if run_for in (None, "") else float(run_for)
        report = supervise_job(bundle, config, self.job, command, env, run_for_s)
        self.log.info(report.summary())
        return {
            "restarts": report.restarts,
            "deaths": report.deaths,
            "stalls": report.stalls,
            "alerts": len(report.alerts),
            "adopted": report.adopted,
            "stopped_by": report.stopped_by,
        }

    def on_kill(self) -> None:
        """The task is being killed (marked failed, timed out, or the worker stops): stop the job it
        supervises, and first tell the supervision loop to end, or it would see a dead job and restart it."""
        from pixguard.config import load_streaming_config
        from pixguard.orchestration.dags import bundle_for_dags
        from pixguard.orchestration.supervisor import JobSlot, request_stop

        bundle = bundle_for_dags()
        slot = JobSlot.for_job(bundle, self.job, load_streaming_config(bundle.project_root))
        request_stop(slot)
        slot.process.stop(timeout_s=30)


def _in_project(project_root: Path, value: object) -> Path | None:
    """A config file given as a run param; a relative path is taken from the project root."""
    if value in (None, ""):
        return None
    path = Path(str(value))
    return path if path.is_absolute() else project_root / path


def supervised_job_dag(job: str):  # noqa: ANN201 - an airflow DAG
    """pix_JOB: Kafka reachable, then the job kept running under supervision (the bundle says what to
    submit, where, and how often to retry)."""
    from airflow.sdk import DAG, Param, task

    from pixguard.orchestration.dags import bundle_for_dags, dag_settings, spark_submit_spec

    bundle = bundle_for_dags()
    with DAG(
        dag_id=f"pix_{job}",
        **dag_settings(bundle, job),
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
            task_id="supervise_stream", job=job, **spark_submit_spec(bundle, job).operator_kwargs()
        )
    return dag
