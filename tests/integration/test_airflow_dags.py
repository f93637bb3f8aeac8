"""The three pixguard DAGs: their shape as Airflow parses it, and real runs (`airflow dags test`)
against the real local stack on small data. Each run gets its own PIXGUARD_HOME (tables, checkpoints,
pid files), so it sees only its own data; Airflow's metadata DB is the session's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from pixguard.config import Bundle, load_bundle
from pixguard.stack.airflow_server import airflow_env, prepare_home
from pixguard.stack.processes import group_members
from tests.integration.airflow_helpers import airflow, airflow_env_for

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
                "trigger_rule": str(getattr(t.trigger_rule, "value", t.trigger_rule)),
                "on_failure": [getattr(c, "__name__", str(c)) for c in (t.on_failure_callback or [])]
                if isinstance(t.on_failure_callback, list) else [getattr(t.on_failure_callback, "__name__", None)],
            }
            for t in dag.tasks
        },
    }
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "heavy": heavy, "dags": dags}))
"""


def wait_for(condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 2.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(poll_s)
    raise AssertionError(f"timed out waiting for {what}")


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
    assert {"pix_streaming", "pix_archive", "pix_maintenance", "pix_retrain", "pix_smoke"} <= set(dagbag["dags"])
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
    archive = dags["pix_archive"]["tasks"]
    assert archive["kafka_reachable"]["downstream"] == ["supervise_stream"]
    assert archive["supervise_stream"]["type"] == "SupervisedSparkSubmitOperator"
    assert archive["supervise_stream"]["retries"] == bundle.job("archive").retries

    maintenance = dags["pix_maintenance"]
    assert {t: v["downstream"] for t, v in maintenance["tasks"].items()} == {
        "compact": ["summarize", "vacuum"],
        "vacuum": ["summarize", "validate"],
        "validate": ["summarize"],
        "summarize": [],
    }
    assert {t: v["trigger_rule"] for t, v in maintenance["tasks"].items()} == {
        "compact": "all_success",
        "vacuum": "all_done",  # a failed compaction must not stop VACUUM
        "validate": "all_done",
        "summarize": "all_success",  # upstream of every step: a failed one still fails the run
    }
    assert maintenance["tasks"]["compact"]["type"] == "SparkSubmitOperator"
    assert maintenance["tasks"]["compact"]["timeout_s"] == bundle.job("maintenance").timeout_s
    assert maintenance["schedule"] == bundle.job("maintenance").schedule

    retraining = dags["pix_retrain"]
    assert {t: v["downstream"] for t, v in retraining["tasks"].items()} == {"train": ["promote"], "promote": []}
    assert retraining["tasks"]["train"]["type"] == "SparkSubmitOperator"
    assert retraining["schedule"] == bundle.job("retrain").schedule
    assert dags["pix_streaming"]["schedule"] == str(bundle.job("streaming").schedule)
    assert retraining["tasks"]["train"]["retries"] == bundle.job("retrain").retries


# ------------------------------------------------------------------ maintenance


def test_maintenance_leaves_fewer_files_with_the_same_rows(
    airflow_db: Bundle, streaming_config, spark, tmp_path
) -> None:  # noqa: ANN001
    from datetime import UTC, datetime
    from functools import reduce

    from delta.tables import DeltaTable

    from pixguard.domain.schema import TRANSACTION_FIELDS
    from pixguard.stream.backfill import backfill_decisions
    from pixguard.stream.raw import to_raw_records
    from pixguard.stream.validate import parse_transactions
    from tests.unit.test_validate import encode, good_message, kafka_rows

    home = tmp_path / "home"
    own = load_bundle(PROJECT_ROOT, state_dir=home)
    tables = {t: own.target.table_path(getattr(streaming_config.tables, t)) for t in ("decisions", "transactions_raw")}
    batches = []
    for batch in range(8):  # one small file per micro-batch, as the stream leaves them
        values = [
            encode(good_message(end_to_end_id=f"E60746948202611251159{batch:04d}{i:07d}", amount_brl=10.0 + i))
            for i in range(25)
        ]
        raw = kafka_rows(spark, values).coalesce(1)
        to_raw_records(raw).write.format("delta").mode("append").save(tables["transactions_raw"])
        batches.append(raw)
    # `decisions` as the decision code writes it (every column, as typed), from the same payments;
    # 25 rows a file stands for the small files of eight micro-batches.
    history = parse_transactions(reduce(lambda a, b: a.unionByName(b), batches)).select(*TRANSACTION_FIELDS)
    history.write.format("delta").save(own.target.table_path(streaming_config.tables.transactions_truth))
    spark.conf.set("spark.sql.files.maxRecordsPerFile", "25")
    try:
        backfill_decisions(spark, own, streaming_config, datetime.now(UTC), source_topic="history")
    finally:
        spark.conf.unset("spark.sql.files.maxRecordsPerFile")

    def detail(path: str) -> tuple[int, int]:
        row = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
        return int(row["numFiles"]), spark.read.format("delta").load(path).count()

    before = {t: detail(p) for t, p in tables.items()}
    assert all(files >= 8 and rows == 200 for files, rows in before.values()), before

    result = airflow(airflow_db, home, "dags", "test", "pix_maintenance")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]

    for table, path in tables.items():
        files, rows = detail(path)
        assert rows == before[table][1] and files < before[table][0], (table, before[table], files, rows)
        history = DeltaTable.forPath(spark, path).history().collect()
        (optimize,) = [r for r in history if r["operation"] == "OPTIMIZE"]
        zorder = json.loads(optimize["operationParameters"]["zOrderBy"])
        assert zorder == streaming_config.orchestration.zorder_by[table], zorder
        assert {"VACUUM START", "VACUUM END"} <= {r["operation"] for r in history}
    (summary_file,) = (home / "maintenance").glob("*/summary.json")
    summary = json.loads(summary_file.read_text())
    for table in tables:
        assert summary[table]["files_after"] < summary[table]["files_before"]
        assert summary[table]["rows_after"] == summary[table]["rows_before"] == 200
        assert summary[table]["bytes_before"] > 0 and summary[table]["contract"] is True


# ------------------------------------------------------------------ retraining


def test_retraining_dag_registers_a_new_challenger_version(
    airflow_db: Bundle, streaming_config, spark, mlflow_server, tmp_path
) -> None:  # noqa: ANN001
    import pandas as pd
    from mlflow import MlflowClient

    from pixguard.model import registry
    from pixguard.simulator.runs import run_history
    from pixguard.simulator.settings import HistorySettings, PopulationSettings, SimulatorConfig

    home = tmp_path / "home"
    own = load_bundle(PROJECT_ROOT, state_dir=home)
    simulator = SimulatorConfig(
        population=PopulationSettings(persons=3_000, companies=300),
        history=HistorySettings(transactions_per_day=3_000),
    )
    run_history(own, streaming_config, simulator, days=12, seed=11, end=pd.Timestamp.now(tz="UTC").floor("min"))
    # Windows that fit 12 days of history (the model lifecycle tests use the same).
    training_file = tmp_path / "training.yaml"
    training_file.write_text(
        yaml.safe_dump(
            {
                "label_maturity_days": 2,
                "test_days": 4,
                "gap_days": 0.5,
                "min_train_frauds": 10,
                "lightgbm": {"num_boost_round": 80, "num_leaves": 15},
            }
        )
    )
    name = own.target.mlflow.registered_model
    client = MlflowClient(own.target.mlflow.tracking_uri)
    versions_before = {v.version for v in client.search_model_versions(f"name='{name}'")}

    try:
        conf = json.dumps({"training_settings": str(training_file)})
        result = airflow(airflow_db, home, "dags", "test", "pix_retrain", "--conf", conf)
        output = result.stdout + result.stderr
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]

        new = {v.version for v in client.search_model_versions(f"name='{name}'")} - versions_before
        assert len(new) == 1, new
        (version,) = new
        assert registry.alias_version(client, name, registry.CHALLENGER) == version
        tags = client.get_model_version(name, version).tags
        assert tags["airflow_run"].startswith("manual__")
        # The policy ran and one of the two branches recorded its outcome on the version.
        assert tags.get("promotion_status") in {"promoted", "refused"}, tags
        promoted = registry.alias_version(client, name, registry.CHAMPION) == version
        assert promoted == (tags["promotion_status"] == "promoted")
        assert "task_id=train" in output and "task_id=promote" in output
        # The gate ran once, inside the training job: one quality report for the one run.
        assert len(list((home / "model" / "runs").glob("*/training_set_quality.json"))) == 1
    finally:
        # The DAG works on the bundle's own model name in the session's registry; later jobs started
        # from bundle.yaml would find its champion.
        if not versions_before and client.search_registered_models(filter_string=f"name='{name}'"):
            client.delete_registered_model(name)


# ------------------------------------------------------------------ streaming supervision


def test_streaming_and_archive_dags_run_the_jobs_and_restart_the_hot_path_after_sigkill(
    airflow_db: Bundle, isolated, spark, mlflow_server, tmp_path
) -> None:  # noqa: ANN001
    from confluent_kafka import Consumer

    from pixguard.infra.producer import make_producer, publish
    from pixguard.orchestration.supervisor import JobSlot, request_stop
    from tests.unit.test_validate import encode, good_message

    bundle, config = isolated
    home = tmp_path / "home"
    own = load_bundle(PROJECT_ROOT, state_dir=home)
    config = config.model_copy(
        update={
            "trigger_interval_s": 0.5,
            "archive_trigger_interval_s": 2.0,
            "monitoring": config.monitoring.model_copy(update={"metrics_port": 0, "archive_metrics_port": 0}),
            "orchestration": config.orchestration.model_copy(
                update={"supervisor_poll_interval_s": 2, "alert_after_failures": 1, "stop_timeout_s": 15}
            ),
        }
    )
    config_file = tmp_path / "streaming_config.yaml"
    config_file.write_text(yaml.safe_dump(config.model_dump(mode="json")))
    decisions_path = own.target.table_path(config.tables.decisions)
    run = uuid.uuid4().hex[:6].upper()

    def send(first: int, count: int) -> list[str]:
        ids = [f"E60746948202611251159{run}{first + i:05d}" for i in range(count)]
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        records = [(b"60746948:0001:123456", encode(good_message(end_to_end_id=e2e, event_time=now))) for e2e in ids]
        publish(make_producer(bundle.target.kafka), config.topics.transactions.name, records)
        return ids

    def decided() -> set[str]:
        try:
            rows = spark.read.format("delta").load(decisions_path).select("end_to_end_id").collect()
        except Exception:  # noqa: BLE001 - the table does not exist before the first batch
            return set()
        return {r.end_to_end_id for r in rows}

    slot, archive_slot = (JobSlot.for_job(own, job, config) for job in ("streaming", "archive"))
    first_ids = send(0, 40)
    conf = json.dumps({"supervise_for_s": 1500, "streaming_config": str(config_file)})
    log, archive_log = (tmp_path / "dags_test.log").open("w"), (tmp_path / "dags_test_archive.log").open("w")

    def dags_test_of(dag_id: str, out) -> subprocess.Popen:  # noqa: ANN001
        return subprocess.Popen(
            [str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id, "--conf", conf],
            env=airflow_env_for(airflow_db, home),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    # One after the other: two `dags test` syncing the DAG folder to one metadata database at once race
    # on the same rows. The second starts once the first has started its job.
    dags_test = dags_test_of("pix_streaming", log)
    archive_dag_test = None
    try:
        wait_for(lambda: slot.process.pid() is not None, 300, "pix_streaming to start its job", 1)
        archive_dag_test = dags_test_of("pix_archive", archive_log)
        wait_for(lambda: set(first_ids) <= decided(), 400, "the supervised job to decide the first batch", 5)
        first_pid, archive_pid = slot.process.pid(), archive_slot.process.pid()
        assert first_pid is not None and archive_pid is not None
        # The archive job runs at its OS priority, its session too where the kernel groups by session.
        assert (os.getpriority(os.PRIO_PROCESS, archive_pid), os.getpriority(os.PRIO_PROCESS, first_pid)) == (19, 0)
        for pid, nice in ((archive_pid, "19"), (first_pid, "0")):
            if (autogroup := Path(f"/proc/{pid}/autogroup")).exists():
                assert autogroup.read_text().split()[-1] == nice
        os.killpg(first_pid, signal.SIGKILL)  # the job dies under the supervisor
        wait_for(lambda: not group_members(first_pid), 30, "the killed job to be gone", 0.5)

        second_ids = send(1_000, 40)
        wait_for(
            lambda: (slot.process.pid() or first_pid) != first_pid, 120, "the supervisor to start the job again", 1
        )
        wait_for(lambda: set(second_ids) <= decided(), 400, "the restarted job to decide the second batch", 5)
        ids = spark.read.format("delta").load(decisions_path).select("end_to_end_id").collect()
        assert len(ids) == len({r.end_to_end_id for r in ids}) == 80  # from the checkpoint: none twice

        request_stop(slot)
        request_stop(archive_slot)
        assert dags_test.wait(timeout=300) == 0, (tmp_path / "dags_test.log").read_text()[-5000:]
        assert archive_dag_test.wait(timeout=300) == 0, (tmp_path / "dags_test_archive.log").read_text()[-5000:]
    finally:
        for process in (dags_test, archive_dag_test):
            if process is not None and process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        for job_slot in (slot, archive_slot):
            if (pid := job_slot.process.pid()) is not None:
                os.killpg(pid, signal.SIGKILL)
        log.close()
        archive_log.close()
    output = (tmp_path / "dags_test.log").read_text()
    assert "restarting the streaming job from its checkpoint" in output
    assert slot.process.pid() is None and archive_slot.process.pid() is None  # nothing left running
    assert "starting: spark-submit" in slot.process.log_file.read_text()
    # The supervisor stopped the restarted job through its driver: a stop, not a crash, in its log.
    last_run = slot.process.log_file.read_text().rsplit("starting: ", 1)[1]
    assert "stopped on SIGTERM" in last_run
    assert "Traceback" not in last_run and "Exception" not in last_run, last_run[-4000:]

    consumer = Consumer(
        {**bundle.target.kafka.client_config(), "group.id": f"t-{run}", "auto.offset.reset": "earliest"}
    )
    consumer.subscribe([config.topics.ops_alerts.name])
    alerts = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(a["rule"] == "streaming_job_restarts" for a in alerts):
        message = consumer.poll(1.0)
        if message is not None and not message.error():
            alerts.append(json.loads(message.value()))
    consumer.close()
    restarts = [a for a in alerts if a["rule"] == "streaming_job_restarts"]
    assert restarts and restarts[0]["status"] == "firing" and restarts[0]["value"] == 1.0
