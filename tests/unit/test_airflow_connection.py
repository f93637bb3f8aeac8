import json
from pathlib import Path

import pytest

from pixguard.config import load_bundle
from pixguard.stack.airflow_server import airflow_env, spark_connection

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_spark_connection_and_airflow_env_follow_the_bundle_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIXGUARD_AIRFLOW_PORT", "18111")
    bundle = load_bundle(PROJECT_ROOT, target="local", state_dir=tmp_path)
    connection = json.loads(spark_connection(bundle))
    assert connection == {
        "conn_type": "spark",
        "host": "local[2]",
        "extra": {"deploy-mode": "client", "spark-binary": "spark-submit"},
    }
    env = airflow_env(bundle)
    assert env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert env["AIRFLOW__CORE__DAGS_FOLDER"] == str(PROJECT_ROOT / "dags")
    assert env["AIRFLOW__API__PORT"] == "18111"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18111/execution/"
    assert json.loads(env["AIRFLOW_CONN_SPARK_PIXGUARD"])["host"] == "local[2]"


def test_the_connection_for_an_airflow_pixguard_does_not_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from pixguard.cli import main

    for name, value in {
        "PIXGUARD_SPARK_MASTER": "k8s://https://kube.example:6443",
        "PIXGUARD_STORAGE_ROOT": "s3a://lake/pix",
        "PIXGUARD_KAFKA_BOOTSTRAP": "broker-1:9093",
        "PIXGUARD_KAFKA_USERNAME": "svc",
        "PIXGUARD_KAFKA_PASSWORD": "secret",
        "MLFLOW_TRACKING_URI": "https://mlflow.example",
        "PIXGUARD_HOME": str(tmp_path),
    }.items():
        monkeypatch.setenv(name, value)
    assert main(["bundle", "connection", "--target", "cluster"]) == 0
    name, value = capsys.readouterr().out.strip().split("=", 1)
    assert name == "AIRFLOW_CONN_SPARK_PIXGUARD"
    connection = json.loads(value.strip("'"))
    assert connection["host"] == "k8s://https://kube.example:6443"
    assert connection["extra"]["deploy-mode"] == "client"  # the default: the supervised stream takes no other
