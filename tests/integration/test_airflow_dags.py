"""The three pixguard DAGs: their shape as Airflow parses it, and real runs (`airflow dags test`)
against the real local stack on small data. Each run gets its own PIXGUARD_HOME (tables, checkpoints,
pid files), so it sees only its own data; Airflow's metadata DB is the session's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pixguard.config import Bundle
from pixguard.stack.airflow_server import airflow_env, prepare_home

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]

DAGBAG_PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
heavy = [m for m in ("pyspark", "mlflow", "great_expectations", "lightgbm") if m in sys.modules]
dags = {}
for dag_id, dag in bag.dags.items():
    dags[dag_id] = {
        "schedule": str(getattr(dag, "schedule", None)),
        "tags": sorted(dag.tags),
        "max_active_runs": dag.max_active_runs,
        "tasks": {
            t.task_id: {
                "downstream": sorted(t.downstream_task_ids),
                "retries": t.retries,
                "timeout_s": t.execution_timeout.total_seconds() if t.execution_timeout else None,
                "type": type(t).__name__,
                "on_failure": [getattr(c, "__name__", str(c)) for c in (t.on_failure_callback or [])]
                if isinstance(t.on_failure_callback, list) else [getattr(t.on_failure_callback, "__name__", None)],
            }
            for t in dag.tasks
        },
    }
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "heavy": heavy, "dags": dags}))
"""


def airflow_env_for(bundle: Bundle, home: Path) -> dict[str, str]:
    """The session's Airflow (home, DB, connection) with a PIXGUARD_HOME of the test's own."""
    return {**os.environ, **airflow_env(bundle), "PIXGUARD_HOME": str(home)}


def airflow(bundle: Bundle, home: Path, *args: str, timeout_s: float = 900) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    return subprocess.run(command, env=airflow_env_for(bundle, home), capture_output=True, text=True, timeout=timeout_s)


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def airflow_db(bundle: Bundle) -> Bundle:
    prepare_home(bundle)
    result = airflow(bundle, bundle.state_dir, "db", "migrate", timeout_s=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return bundle


@pytest.fixture(scope="module")
def dagbag(bundle: Bundle) -> dict:
    prepare_home(bundle)
    result = subprocess.run(
        [sys.executable, "-c", DAGBAG_PROBE], env=airflow_env(bundle), capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ shape


def test_every_dag_imports_without_errors_or_heavy_imports(dagbag: dict) -> None:
    assert dagbag["errors"] == {}
    assert {"pix_streaming", "pix_delta_maintenance", "pix_model_retraining", "pix_ingest_smoke"} <= set(dagbag["dags"])
    assert dagbag["heavy"] == [], "DAG files must keep pyspark/mlflow/great_expectations inside tasks"
    for dag_id, dag in dagbag["dags"].items():
        assert "pixguard" in dag["tags"], dag_id
        assert dag["max_active_runs"] == 1, dag_id
        for task_id, task in dag["tasks"].items():
            assert task["retries"] >= 2, f"{dag_id}.{task_id}"
            assert "alert_task_failure" in task["on_failure"], f"{dag_id}.{task_id} does not alert on failure"


def test_tasks_dependencies_and_schedules_follow_the_bundle(dagbag: dict, bundle: Bundle) -> None:
    dags = dagbag["dags"]
    streaming = dags["pix_streaming"]["tasks"]
    assert streaming["kafka_reachable"]["downstream"] == ["supervise_stream"]
    assert streaming["supervise_stream"]["type"] == "SupervisedSparkSubmitOperator"
    assert streaming["supervise_stream"]["retries"] == bundle.job("streaming").retries

    maintenance = dags["pix_delta_maintenance"]
    assert {t: v["downstream"] for t, v in maintenance["tasks"].items()} == {
        "compact": ["vacuum"],
        "vacuum": ["validate"],
        "validate": ["summarize"],
        "summarize": [],
    }
    assert maintenance["tasks"]["compact"]["type"] == "SparkSubmitOperator"
    assert maintenance["tasks"]["compact"]["timeout_s"] == bundle.job("compaction").timeout_s
    assert maintenance["schedule"] == bundle.job("compaction").schedule

    retraining = dags["pix_model_retraining"]
    assert {t: v["downstream"] for t, v in retraining["tasks"].items()} == {
        "quality_gate": ["train"],
        "train": ["register_challenger"],
        "register_challenger": ["promotion_policy"],
        "promotion_policy": ["keep_champion", "promote", "promote_or_not"],
        "promote_or_not": ["keep_champion", "promote"],
        "promote": [],
        "keep_champion": [],
    }
    assert retraining["schedule"] == bundle.job("retrain").schedule
    assert dags["pix_streaming"]["schedule"] == str(bundle.job("streaming").schedule)
    assert retraining["tasks"]["train"]["retries"] == bundle.job("retrain").retries


# ------------------------------------------------------------------ maintenance
