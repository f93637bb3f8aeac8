"""What DAG files need from the bundle, kept free of Airflow so it is testable on its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pixguard.config import Bundle, load_bundle
from pixguard.infra.spark import spark_conf


@dataclass(frozen=True)
class SparkSubmitSpec:
    """Keyword arguments for the Spark provider's SparkSubmitOperator, from one bundle job."""

    application: str
    conn_id: str
    name: str
    conf: dict[str, str]
    application_args: list[str]
    deploy_mode: str

    def operator_kwargs(self) -> dict:
        return {
            "application": self.application,
            "conn_id": self.conn_id,
            "name": self.name,
            "conf": self.conf,
            "application_args": self.application_args,
            "deploy_mode": self.deploy_mode,
        }


def spark_submit_spec(bundle: Bundle, job_name: str, extra_args: list[str] | None = None) -> SparkSubmitSpec:
    job = bundle.job(job_name)
    return SparkSubmitSpec(
        application=str(bundle.project_root / job.entry_point),
        conn_id=bundle.target.airflow.spark_conn_id,
        name=f"{bundle.name}-{job_name}",
        conf=spark_conf(bundle, job_name),
        application_args=["--target", bundle.target.name, *job.args, *(extra_args or [])],
        deploy_mode=bundle.target.spark.deploy_mode,
    )


def default_args(bundle: Bundle, job_name: str) -> dict:
    job = bundle.job(job_name)
    args: dict = {
        "owner": "data-platform",
        "retries": job.retries,
        "retry_delay": timedelta(seconds=job.retry_delay_s),
        "on_failure_callback": alert_task_failure,
    }
    if job.timeout_s:
        args["execution_timeout"] = timedelta(seconds=job.timeout_s)
    return args


def dag_settings(bundle: Bundle, job_name: str) -> dict:
    """What every pixguard DAG takes from its job in bundle.yaml. One run at a time: a scheduled run
    while the previous one still works (e.g. the streaming supervisor) waits instead of doubling it."""
    job = bundle.job(job_name)
    return {
        "description": job.description,
        "schedule": job.schedule,
        "start_date": datetime(2026, 1, 1, tzinfo=UTC),
        "catchup": False,
        "max_active_runs": 1,
        "default_args": default_args(bundle, job_name),
    }


def bundle_for_dags() -> Bundle:
    """DAG files read the bundle with the target and state folder Airflow was started with."""
    return load_bundle()


def task_failure_event(dag_id: str, task_id: str, run_id: str, try_number: int, error: str, job: str):  # noqa: ANN201
    """The ops alert for a failed Airflow task, shaped like the stream monitoring's alert events."""
    from pixguard.monitoring.alerts import AlertEvent

    now = datetime.now(UTC)
    return AlertEvent(
        alert_id=f"airflow-{dag_id}-{task_id}-{run_id}-{try_number}",
        rule="airflow_task_failed",
        status="firing",
        severity="critical",
        metric="task_failures",
        comparison=">=",
        threshold=1.0,
        value=1.0,
        started_at=now,
        at=now,
        job=job,
        summary=f"Airflow task {dag_id}.{task_id} failed (run {run_id}, try {try_number}): {error}"[:1000],
    )


def send_ops_alerts(bundle: Bundle, events: list) -> None:
    """Through the same sinks as the stream's monitoring: the log, Kafka topics.ops_alerts, the webhook."""
    from pixguard.config import load_streaming_config
    from pixguard.monitoring.alert_sinks import dispatch, ops_alert_sinks

    dispatch(events, ops_alert_sinks(bundle, load_streaming_config(bundle.project_root)))


def alert_task_failure(context: dict) -> None:
    """Airflow `on_failure_callback` of every pixguard task."""
    ti = context.get("ti") or context.get("task_instance")
    dag_id = getattr(ti, "dag_id", None) or getattr(context.get("dag"), "dag_id", "unknown")
    task_id = getattr(ti, "task_id", "unknown")
    run_id = getattr(ti, "run_id", None) or str(context.get("run_id", "unknown"))
    error = context.get("exception")
    bundle = bundle_for_dags()
    event = task_failure_event(
        dag_id,
        task_id,
        run_id,
        int(getattr(ti, "try_number", 0) or 0),
        f"{type(error).__name__}: {error}",
        f"{bundle.name}-airflow",
    )
    send_ops_alerts(bundle, [event])
