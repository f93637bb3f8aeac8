"""Airflow 3 for the local target: `airflow standalone` (scheduler, dag-processor, triggerer,
API server) on a SQLite metadata DB, with the project's dags/ folder and the bundle's Spark
connection. The same environment serves `airflow dags test` in tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from pixguard.config import Bundle
from pixguard.stack.processes import ManagedProcess


def spark_connection(bundle: Bundle) -> str:
    """The Airflow connection (JSON form) the Spark provider's SparkSubmitOperator uses."""
    spark = bundle.target.spark
    # SparkSubmitHook builds the master from host (and port when set): the full URL fits in host.
    extra = {"deploy-mode": spark.deploy_mode, "spark-binary": "spark-submit"}
    return json.dumps({"conn_type": "spark", "host": spark.master, "extra": extra})


def airflow_env(bundle: Bundle) -> dict[str, str]:
    settings = bundle.target.airflow
    home = bundle.state_dir / "airflow"
    api = f"http://127.0.0.1:{settings.port}"
    venv_bin = str(Path(sys.executable).parent)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(bundle.project_root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": str(settings.parallelism),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__PORT": str(settings.port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": api,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{settings.admin_user}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        f"AIRFLOW_CONN_{settings.spark_conn_id.upper()}": spark_connection(bundle),
        # DAG files read the same bundle, target and state folder as the CLI that started Airflow.
        "PIXGUARD_PROJECT_ROOT": str(bundle.project_root),
        "PIXGUARD_HOME": str(bundle.state_dir),
        "PIXGUARD_TARGET": bundle.target.name,
        # spark-submit (from pyspark) and the Python that runs the jobs are the project's own.
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
    }


def prepare_home(bundle: Bundle) -> None:
    settings = bundle.target.airflow
    home = bundle.state_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    (home / "passwords.json").write_text(json.dumps({settings.admin_user: settings.admin_password}))


@dataclass(frozen=True)
class AirflowServer:
    bundle: Bundle

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.bundle.target.airflow.port}"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess("airflow", self.bundle.state_dir / "run")

    def start(self, timeout_s: float = 180.0) -> None:
        if self.process.is_running():
            return
        prepare_home(self.bundle)
        airflow = str(Path(sys.executable).parent / "airflow")
        self.process.start(
            [airflow, "standalone"],
            env=airflow_env(self.bundle),
            cwd=self.bundle.state_dir,
            ports=(self.bundle.target.airflow.port,),
        )
        self.process.wait_until(self.is_ready, timeout_s, f"API server and scheduler on {self.url}")

    def is_ready(self) -> bool:
        response = requests.get(f"{self.url}/api/v2/monitor/health", timeout=3)
        if response.status_code != 200:
            return False
        return response.json().get("scheduler", {}).get("status") == "healthy"

    def stop(self) -> bool:
        return self.process.stop(timeout_s=45)


def airflow_command(bundle: Bundle, *args: str, timeout_s: float = 900) -> subprocess.CompletedProcess:
    """Run the `airflow` CLI with the project's Airflow environment (e.g. `dags test pix_streaming`)."""
    prepare_home(bundle)
    airflow = str(Path(sys.executable).parent / "airflow")
    env = {**os.environ, **airflow_env(bundle)}
    return subprocess.run([airflow, *args], env=env, capture_output=True, text=True, timeout=timeout_s)
