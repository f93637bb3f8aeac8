"""What DAG files need from the bundle, kept free of Airflow so it is testable on its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pixguard.config import Bundle, load_bundle
from pixguard.spark import spark_conf


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
    args: dict = {"owner": "data-platform", "retries": job.retries, "retry_delay": timedelta(seconds=job.retry_delay_s)}
    if job.timeout_s:
        args["execution_timeout"] = timedelta(seconds=job.timeout_s)
    return args


def bundle_for_dags() -> Bundle:
    """DAG files read the bundle with the target and state folder Airflow was started with."""
    return load_bundle()
