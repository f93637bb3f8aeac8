"""The `cluster` target of bundle.yaml, as written, on a real Spark standalone cluster.

A master and a worker are started here (Spark's own daemons, from pyspark). Their executors run an
interpreter that has the project's dependencies but not the project, as a cluster's nodes do: every
pixguard function they run comes from the package each driver ships. The session's broker and MLflow
server stand in for the cluster's, and the storage root is a `file://` URI, so nothing may take it
for a local path. Airflow submits the streaming job through the connection built from the target
and supervises it, reading its checkpoint at that URI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import sysconfig
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest
import requests
import yaml

from pixguard.config import Bundle, load_bundle
from pixguard.features.model_input import MODEL_FEATURES
from pixguard.infra.producer import make_producer, publish
from pixguard.model.publish import log_fraud_model
from pixguard.stack.airflow_server import spark_connection
from pixguard.stack.processes import ManagedProcess, free_port
from tests.hot_path_helpers import tiny_booster
from tests.integration.airflow_helpers import airflow_env_for
from tests.integration.test_airflow_dags import PROJECT_ROOT, wait_for
from tests.unit.test_validate import encode, good_message, valid_cpf

pytestmark = pytest.mark.integration

# The cluster target asks for 4-core, 8 GiB executors, one for the streaming job and one for the
# archive job (spark.cores.max 4 each); a worker offering that hosts both (cores are a scheduling
# unit, and the heap is only reserved as it fills).
WORKER_CORES, WORKER_MEMORY = "8", "17g"


@pytest.fixture(scope="module")
def executor_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtualenv whose only packages are the project's dependencies: a `.pth` line adds their
    folder, and `.pth` files in an added folder are not read, so the editable install of pixguard
    (one of them) stays out."""
    env_dir = tmp_path_factory.mktemp("executor-python") / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)  # noqa: SLF001
    site_packages = next((env_dir / "lib").glob("python3*/site-packages"))
    (site_packages / "project-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    python = env_dir / "bin" / "python"
    has_dependencies = subprocess.run([python, "-c", "import pandas, pyarrow, pyspark, mlflow, lightgbm"])
    assert has_dependencies.returncode == 0
    without_project = subprocess.run([python, "-c", "import pixguard"], capture_output=True, text=True)
    assert "No module named 'pixguard'" in without_project.stderr
    return python


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(master URL, master web UI URL) of a one-worker standalone cluster."""
    folder = tmp_path_factory.mktemp("spark-standalone")
    spark_class = str(Path(sys.executable).parent / "spark-class")
    port, ui_port, worker_ui_port = free_port(), free_port(), free_port()
    master_url, ui = f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui_port}"
    env = {"SPARK_HOME": str(Path(pyspark.__file__).parent)}  # spark-class finds its jars there
    master, worker = ManagedProcess("spark-master", folder), ManagedProcess("spark-worker", folder)
    master.start(
        [spark_class, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port)]
        + ["--webui-port", str(ui_port)],
        env=env,
        ports=[port, ui_port],
    )
    worker.start(
        [spark_class, "org.apache.spark.deploy.worker.Worker", master_url, "--host", "127.0.0.1"]
        + ["--cores", WORKER_CORES, "--memory", WORKER_MEMORY, "--webui-port", str(worker_ui_port)]
        + ["--work-dir", str(folder / "work")],
        env=env,
    )
    try:
        wait_for(lambda: _master_state(ui).get("aliveworkers") == 1, 120, "the worker to register", 1)
        yield master_url, ui
    finally:
        worker.stop(timeout_s=30)
        master.stop(timeout_s=30)


def _master_state(ui: str) -> dict:
    try:
        return requests.get(f"{ui}/json/", timeout=5).json()
    except (requests.RequestException, ValueError):
        return {}


@pytest.fixture
def champion(bundle: Bundle, mlflow_server) -> Iterator[str]:  # noqa: ANN001
    """A champion of the bundle's registered model (the cluster target has no other name), scored on
    the executors; the alias goes back where it was afterwards."""
    from mlflow import MlflowClient

    from pixguard.model import registry

    name = bundle.target.mlflow.registered_model
    client = MlflowClient(mlflow_server.tracking_uri)
    exists = bool(client.search_registered_models(filter_string=f"name='{name}'"))
    previous = registry.alias_version(client, name, registry.CHAMPION) if exists else None
    booster, frame = tiny_booster(MODEL_FEATURES, seed=7)
    version = log_fraud_model(booster, frame, mlflow_server.tracking_uri, name).version
    client.set_registered_model_alias(name, registry.CHAMPION, version)
    yield version
    if not exists:
        client.delete_registered_model(name)
    elif previous:
        client.set_registered_model_alias(name, registry.CHAMPION, previous)
    else:
        client.delete_registered_model_alias(name, registry.CHAMPION)


def test_the_supervised_stream_runs_on_a_standalone_cluster(
    airflow_db: Bundle,
    isolated,  # noqa: ANN001
    standalone_cluster: tuple[str, str],
    executor_python: Path,
    champion: str,
    mlflow_server,  # noqa: ANN001
    spark,  # noqa: ANN001
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pixguard.orchestration.supervisor import JobSlot, checkpoint_probe, request_stop, watched_query

    local, config = isolated
    master_url, master_ui = standalone_cluster
    home = tmp_path / "home"
    cluster_env = {
        "PIXGUARD_TARGET": "cluster",
        "PIXGUARD_HOME": str(home),
        "PIXGUARD_STORAGE_ROOT": (tmp_path / "lake").as_uri(),
        "PIXGUARD_SPARK_MASTER": master_url,
        "PIXGUARD_EXECUTOR_PYTHON": str(executor_python),
        "PIXGUARD_KAFKA_BOOTSTRAP": local.target.kafka.bootstrap_servers,
        "PIXGUARD_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",  # the session's broker; SASL settings are left out
        "PIXGUARD_KAFKA_USERNAME": "unused",
        "PIXGUARD_KAFKA_PASSWORD": "unused",
        "MLFLOW_TRACKING_URI": mlflow_server.tracking_uri,
    }
    for key, value in cluster_env.items():
        monkeypatch.setenv(key, value)
    cluster = load_bundle(PROJECT_ROOT, target="cluster", state_dir=home)
    assert cluster.target.spark.deploy_mode == "client"
    assert cluster.target.storage_root.startswith("file://")

    config = config.model_copy(
        update={
            "trigger_interval_s": 1.0,
            "archive_trigger_interval_s": 2.0,
            "monitoring": config.monitoring.model_copy(update={"metrics_port": 0, "archive_metrics_port": 0}),
            "orchestration": config.orchestration.model_copy(
                update={"supervisor_poll_interval_s": 2, "stop_timeout_s": 30}
            ),
        }
    )
    config_file = tmp_path / "streaming_config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    run = uuid.uuid4().hex[:6].upper()
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    ids = [f"E60746948202611261300{run}{i:05d}" for i in range(200)]
    records = [
        (b"k", encode(good_message(end_to_end_id=e2e, event_time=now, payer_document=valid_cpf(i))))
        for i, e2e in enumerate(ids)
    ]
    publish(make_producer(cluster.target.kafka), config.topics.transactions.name, records)
    decisions_path = cluster.target.table_path(config.tables.decisions)

    def decided() -> list:
        try:
            return spark.read.format("delta").load(decisions_path).collect()
        except Exception:  # noqa: BLE001 - the table appears with the first batch
            return []

    env = {
        **airflow_env_for(airflow_db, home),
        **cluster_env,
        f"AIRFLOW_CONN_{cluster.target.airflow.spark_conn_id.upper()}": spark_connection(cluster),
    }
    slots = [JobSlot.for_job(cluster, job, config) for job in ("streaming", "archive")]
    conf = json.dumps({"supervise_for_s": 1200, "streaming_config": str(config_file)})
    log_path, archive_log_path = tmp_path / "dags_test.log", tmp_path / "dags_test_archive.log"
    dags_tests = []
    try:
        # One after the other: two `dags test` syncing the DAG folder to one metadata database at
        # once race on the same rows. The second starts once the first has started its job.
        for dag_id, path, slot in (("pix_streaming", log_path, slots[0]), ("pix_archive", archive_log_path, slots[1])):
            with path.open("w") as log:
                dags_tests.append(
                    subprocess.Popen(
                        [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, "--conf", conf],
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            wait_for(lambda slot=slot: slot.process.pid() is not None, 300, f"{dag_id} to start its job", 1)
        wait_for(lambda: len(decided()) >= len(ids), 600, "the job on the cluster to decide every payment", 5)
        # What the supervisors see, reading the checkpoints at their URI: a probe that could not read
        # one would find every record still waiting, and restart its job as stalled.
        for job in ("streaming", "archive"):
            probe = checkpoint_probe(cluster, watched_query(job, config))
            wait_for(lambda probe=probe: probe().pending_records == 0, 60, f"the {job} job's commit", 2)
            progress = probe()
            assert progress.last_commit_at is not None and progress.pending_records == 0, (job, progress)
        for slot in slots:
            request_stop(slot)
        for dags_test, path in zip(dags_tests, (log_path, archive_log_path), strict=True):
            assert dags_test.wait(timeout=300) == 0, path.read_text()[-5000:]
    finally:
        for dags_test in dags_tests:
            if dags_test.poll() is None:
                os.killpg(dags_test.pid, signal.SIGKILL)
        for slot in slots:
            if (pid := slot.process.pid()) is not None:
                os.killpg(pid, signal.SIGKILL)
    output = log_path.read_text() + archive_log_path.read_text()

    rows = decided()
    assert sorted(r.end_to_end_id for r in rows) == sorted(ids)  # each once
    assert {r.model_version for r in rows} == {champion}  # scored by the model's UDF on the executors
    assert all(r.score is not None for r in rows)
    assert output.count("started 1x, restarts 0 (deaths 0, stalls 0)") == 2, output[-5000:]

    archives = list((home / "artifacts").glob("pixguard-*.zip"))
    assert len(archives) == 1, "the driver ships the package it runs"

    # The retraining DAG's tasks start their session in the Airflow worker's own process, without
    # spark-submit: its executors need the Delta jars and the package as well.
    probe = (
        "import sys\n"
        "from pixguard.config import load_bundle\n"
        "from pixguard.simulator.documents import is_valid_cpf\n"
        "from pixguard.infra.spark import build_spark_session\n"
        "spark = build_spark_session(load_bundle(target='cluster'), 'retrain')\n"
        "documents = spark.read.format('delta').load(sys.argv[1]).select('payer_document').rdd\n"
        "checked = documents.map(lambda row: is_valid_cpf(row.payer_document)).collect()\n"
        "print('valid payer documents', sum(checked), 'of', len(checked))\n"
        "executables = spark.sparkContext.parallelize(range(4), 4).map(lambda _: sys.executable).distinct()\n"
        "print('executor python', *executables.collect())\n"
    )
    in_process = subprocess.run(
        [sys.executable, "-c", probe, decisions_path], capture_output=True, text=True, timeout=600
    )
    assert f"valid payer documents {len(ids)} of {len(ids)}" in in_process.stdout, in_process.stderr[-5000:]
    assert f"executor python {executor_python}\n" in in_process.stdout  # the target's, not the driver's

    apps = _master_state(master_ui)
    applications = {a["name"] for a in apps.get("completedapps", []) + apps.get("activeapps", [])}
    assert {"pixguard-streaming", "pixguard-retrain"} <= applications, apps  # on the master, not local[*]
