"""The streaming supervisor's decisions on a fake job and a fake clock: dead and stalled jobs are
restarted, an idle one is left alone, alerts fire once after N failures and resolve on progress, and
only one supervisor may hold a job's slot."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import pytest

from pixguard.config import ConfigError, OrchestrationSettings
from pixguard.orchestration.supervisor import (
    AlreadySupervised,
    JobSlot,
    Progress,
    Supervisor,
    SupervisorGaveUp,
    WatchedQuery,
    committed_offsets,
    pending_records,
)

SETTINGS = OrchestrationSettings(
    supervisor_poll_interval_s=10, stall_timeout_s=60, alert_after_failures=2, max_consecutive_failures=3
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


class FakeJob:
    """Alive from start() until kill(); records how often it was started and stopped."""

    def __init__(self, slot: JobSlot, alive: bool = False) -> None:
        self.slot, self.alive, self.starts, self.stops = slot, alive, 0, 0

    def pid(self) -> int | None:
        return 4242 if self.alive else None

    def start(self) -> int:
        self.starts += 1
        self.alive = True
        return 4242

    def stop(self) -> None:
        self.stops += 1
        self.alive = False


def dying_at_every_poll(clock: FakeClock, job: FakeJob):  # noqa: ANN201
    """A sleep after which the job is dead: it dies as soon as it starts."""

    def crash(seconds: float) -> None:
        clock.now += seconds
        job.alive = False

    return crash


def supervisor(tmp_path: Path, job: FakeJob, clock: FakeClock, probe, alerts: list) -> Supervisor:  # noqa: ANN001
    return Supervisor(
        job,  # type: ignore[arg-type]
        probe,
        SETTINGS,
        lambda status, summary, failures: alerts.append((status, failures)),
        clock=clock,
        sleep=clock.sleep,
    )


def test_a_dead_job_is_restarted_and_progress_resolves_the_alert(tmp_path: Path) -> None:
    clock, alerts = FakeClock(), []
    job = FakeJob(JobSlot(tmp_path, "/ckpt"))
    kills = [1, 1]  # the job dies at the first two polls; from t=1050 it commits batches

    def probe() -> Progress:
        return Progress(1_049.0, 0) if clock.now >= 1_050 else Progress(None, 5)

    def step(seconds: float) -> None:
        clock.now += seconds
        if kills and job.alive:
            kills.pop()
            job.alive = False

    sup = supervisor(tmp_path, job, clock, probe, alerts)
    sup.sleep = step
    report = sup.run(run_for_s=200)
    assert (report.deaths, report.restarts, report.stalls, job.starts) == (2, 2, 0, 3)
    assert alerts == [("firing", 2), ("resolved", 2)]
    assert report.stopped_by == "run_for_s=200" and not job.alive


def test_a_stalled_job_with_waiting_input_is_restarted_but_an_idle_one_is_not(tmp_path: Path) -> None:
    clock, alerts = FakeClock(), []
    idle = FakeJob(JobSlot(tmp_path / "a", "/idle"))
    report = supervisor(tmp_path, idle, clock, lambda: Progress(None, 0), alerts).run(run_for_s=600)
    assert (report.stalls, report.restarts, idle.starts) == (0, 0, 1)

    clock = FakeClock()
    stuck = FakeJob(JobSlot(tmp_path / "b", "/stuck"))
    report = supervisor(tmp_path, stuck, clock, lambda: Progress(clock.now - 500, 1_000), alerts).run(run_for_s=100)
    assert report.stalls >= 1 and report.restarts == report.stalls and stuck.stops >= report.stalls


def test_the_supervisor_gives_up_after_max_consecutive_failures_and_alerts_once(tmp_path: Path) -> None:
    clock, alerts = FakeClock(), []
    job = FakeJob(JobSlot(tmp_path, "/ckpt"))
    sup = supervisor(tmp_path, job, clock, lambda: Progress(None, 0), alerts)

    sup.sleep = dying_at_every_poll(clock, job)
    with pytest.raises(SupervisorGaveUp, match="4 times"):
        sup.run()
    assert alerts == [("firing", 2)]
    assert job.starts == 4  # the first start and three restarts


def test_a_running_job_is_adopted_not_started_twice_and_a_stop_request_ends_supervision(tmp_path: Path) -> None:
    from pixguard.orchestration.supervisor import request_stop

    clock, alerts = FakeClock(), []
    slot = JobSlot(tmp_path, "/ckpt")
    job = FakeJob(slot, alive=True)
    sup = supervisor(tmp_path, job, clock, lambda: Progress(None, 0), alerts)

    def stop_soon(seconds: float) -> None:
        clock.now += seconds
        if clock.now > 1_030:
            request_stop(slot)

    sup.sleep = stop_soon
    report = sup.run()
    assert report.adopted and job.starts == 0 and report.stopped_by == "stop request"
    assert not job.alive and not slot.stop_file.exists()


def test_only_one_supervisor_holds_a_checkpoint(tmp_path: Path) -> None:
    first, second, other = JobSlot(tmp_path, "/ckpt/decisions"), JobSlot(tmp_path, "/ckpt/decisions"), None
    with first.exclusive():
        with pytest.raises(AlreadySupervised, match="supervised already"), second.exclusive():
            pass
        other = JobSlot(tmp_path, "/elsewhere/decisions")
        with other.exclusive():
            pass
    with second.exclusive():  # released when the first holder ends
        pass


def test_pending_records_compare_kafka_end_offsets_with_the_committed_batch(tmp_path: Path) -> None:
    checkpoint = tmp_path / "decisions"
    (checkpoint / "offsets").mkdir(parents=True)
    (checkpoint / "commits").mkdir()
    assert committed_offsets(checkpoint) == (None, {})
    (checkpoint / "offsets" / "7").write_text('v1\n{"batchWatermarkMs":0}\n{"pix.transactions":{"0":120,"1":80}}\n')
    (checkpoint / "offsets" / "8").write_text('v1\n{"batchWatermarkMs":0}\n{"pix.transactions":{"0":150,"1":90}}\n')
    (checkpoint / "commits" / "7").write_text("v1\n{}\n")
    committed_at, offsets = committed_offsets(checkpoint)  # batch 8 is planned, not committed
    assert committed_at is not None and offsets == {"pix.transactions": {0: 120, 1: 80}}
    assert pending_records({0: (0, 120), 1: (0, 80)}, offsets["pix.transactions"]) == 0
    assert pending_records({0: (0, 130), 1: (0, 85)}, offsets["pix.transactions"]) == 15
    assert pending_records({0: (10, 40)}, None) == 30  # nothing committed yet: all retained records wait
    assert committed_offsets(checkpoint.as_uri()) == (committed_at, offsets)  # as Spark names it on a cluster


def test_deaths_far_apart_on_a_quiet_stream_are_not_consecutive(tmp_path: Path) -> None:
    """Up with nothing to read for a stall timeout counts as healthy: a death each hour of a quiet
    night resolves its alert and never makes the supervisor give up."""
    clock, alerts = FakeClock(), []
    job = FakeJob(JobSlot(tmp_path, "/ckpt"))
    sup = supervisor(tmp_path, job, clock, lambda: Progress(None, 0), alerts)

    def die_twice_an_hour(seconds: float) -> None:
        clock.now += seconds
        if int(clock.now) % 1_800 == 0:
            job.alive = False

    sup.sleep = die_twice_an_hour
    report = sup.run(run_for_s=6 * 3_600)
    assert report.deaths >= 10 and report.restarts == report.deaths
    assert ("firing", 2) not in alerts and report.stopped_by == "run_for_s=21600"


def test_a_dead_leaders_leftover_group_is_stopped(tmp_path: Path) -> None:
    """The leader exits and leaves a child in its process group (a killed JVM's Python driver)."""
    from pixguard.stack.processes import ManagedProcess, group_members

    process = ManagedProcess("leftover", tmp_path)
    pid = process.start(["sh", "-c", "sleep 300 & exit 0"])
    deadline = time.monotonic() + 10
    while process.pid() is not None and time.monotonic() < deadline:
        time.sleep(0.05)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)
    assert process.pid() is None and group_members(pid), "the leader is gone, its child is not"
    assert process.stop(timeout_s=5)
    assert not group_members(pid)


@pytest.mark.parametrize("job", ["streaming", "archive"])
def test_killing_the_airflow_task_ends_supervision_instead_of_a_restart(
    job: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pixguard.config import load_streaming_config
    from pixguard.orchestration.dags import bundle_for_dags
    from pixguard.orchestration.operators import SupervisedSparkSubmitOperator

    monkeypatch.setenv("PIXGUARD_HOME", str(tmp_path / "home"))
    SupervisedSparkSubmitOperator(task_id="supervise", job=job, application=f"jobs/{job}.py").on_kill()
    bundle = bundle_for_dags()
    slots = {
        name: JobSlot.for_job(bundle, name, load_streaming_config(bundle.project_root))
        for name in ("streaming", "archive")
    }
    assert slots[job].stop_file.exists()
    assert [name for name, slot in slots.items() if slot.stop_file.exists()] == [job]  # the other job runs on


def test_each_continuous_job_is_watched_on_its_own_query_and_topic_and_started_at_its_priority(
    tmp_path: Path,
) -> None:
    from pixguard.config import load_bundle, load_streaming_config
    from pixguard.orchestration.supervisor import watched_query
    from tests.unit.test_config import PROJECT_ROOT

    bundle = load_bundle(PROJECT_ROOT, state_dir=tmp_path)
    config = load_streaming_config(PROJECT_ROOT)
    assert watched_query("streaming", config) == WatchedQuery("hot_path", config.topics.transactions.name)
    assert watched_query("archive", config) == WatchedQuery("decisions_archive", config.topics.decision_log.name)
    slots = {JobSlot.for_job(bundle, job, config).name for job in ("streaming", "archive")}
    assert len(slots) == 2  # two locks, two pid files: one instance of each
    assert bundle.job("streaming").launch_command(["spark-submit", "x.py"]) == ["spark-submit", "x.py"]
    archive = bundle.job("archive").launch_command(["spark-submit", "x.py"])
    assert archive[:2] == ["sh", "-c"] and archive[-2:] == ["spark-submit", "x.py"]
    assert "echo 19 > /proc/self/autogroup" in archive[2] and 'exec nice -n 19 "$@"' in archive[2]
    with pytest.raises(ConfigError, match="jobs.retrain"):
        watched_query("retrain", config)


def test_a_driver_in_cluster_deploy_mode_is_not_supervised(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Stopping spark-submit would not stop a driver running on the cluster: refused before anything
    is started, naming the key to change."""
    from pixguard.config import ConfigError, load_bundle, load_streaming_config
    from pixguard.orchestration.supervisor import supervise_job
    from tests.unit.test_config import MINIMAL_BUNDLE, PROJECT_ROOT, write_bundle

    monkeypatch.setenv("PIXGUARD_TEST_STORAGE", str(tmp_path / "lake"))
    bundle = load_bundle(write_bundle(tmp_path, MINIMAL_BUNDLE), target="cluster", state_dir=tmp_path / "state")
    assert bundle.target.spark.deploy_mode == "cluster"
    config = load_streaming_config(PROJECT_ROOT)
    with pytest.raises(ConfigError, match="use 'client'") as refused:
        supervise_job(bundle, config, "streaming", ["sleep", "60"], {}, run_for_s=1)
    assert refused.value.key == "targets.cluster.spark.deploy_mode"
    assert not (tmp_path / "state" / "run").exists()  # nothing was started


def test_checkpoints_are_found_as_spark_names_them(tmp_path: Path) -> None:
    from pyarrow import fs

    from pixguard.orchestration.supervisor import checkpoint_filesystem

    for name in (str(tmp_path), tmp_path.as_uri(), f"file:{tmp_path}"):  # file:/x is Hadoop's own spelling
        filesystem, path = checkpoint_filesystem(name)
        assert isinstance(filesystem, fs.LocalFileSystem) and path == str(tmp_path), name
    # Hadoop's S3 scheme is s3a; pyarrow's s3 (a region given: no lookup over the network)
    filesystem, path = checkpoint_filesystem("s3a://lake/pix/_checkpoints/decisions?region=sa-east-1")
    assert isinstance(filesystem, fs.S3FileSystem) and path == "lake/pix/_checkpoints/decisions"
    assert filesystem.region == "sa-east-1"


def test_a_checkpoint_that_cannot_be_read_is_not_taken_for_a_stall(tmp_path: Path) -> None:
    """Storage failing for a poll (here: `commits` is not a folder): no commit time and nothing known
    to wait, so the supervisor neither restarts the job as stalled nor dies."""
    from pixguard.orchestration.supervisor import read_progress

    checkpoint = tmp_path / "decisions"
    checkpoint.mkdir()
    (checkpoint / "commits").write_text("not a folder")
    progress = read_progress(str(checkpoint), lambda: {0: (0, 500)}, "pix.transactions")
    assert progress == Progress(None, 0)

    (checkpoint / "commits").unlink()
    (checkpoint / "commits").mkdir()
    assert read_progress(str(checkpoint), lambda: {0: (0, 500)}, "pix.transactions") == Progress(None, 500)

    def kafka_down() -> dict:
        raise RuntimeError("broker unreachable")

    assert read_progress(str(checkpoint), kafka_down, "pix.transactions") == Progress(None, 0)


def test_restarts_in_a_run_of_failures_wait_twice_as_long_each_time(tmp_path: Path) -> None:
    clock, alerts = FakeClock(), []
    settings = SETTINGS.model_copy(update={"restart_backoff_s": 15.0, "restart_backoff_max_s": 50.0})
    job = FakeJob(JobSlot(tmp_path, "/ckpt"))
    started_at: list[float] = []
    start = job.start

    def timed_start() -> int:
        started_at.append(clock.now)
        return start()

    job.start = timed_start  # type: ignore[method-assign]
    sup = Supervisor(job, lambda: Progress(None, 5), settings, lambda *a: alerts.append(a), clock, clock.sleep)  # type: ignore[arg-type]

    sup.sleep = dying_at_every_poll(clock, job)
    with pytest.raises(SupervisorGaveUp):
        sup.run()
    # Each death is seen one poll (10 s) after the start, then the restart waits 15, 30, then 50 (capped).
    assert [b - a for a, b in zip(started_at, started_at[1:], strict=False)] == [25.0, 40.0, 60.0]


def test_a_stop_request_during_the_wait_before_a_restart_ends_supervision_without_a_restart(tmp_path: Path) -> None:
    clock, alerts = FakeClock(), []
    job = FakeJob(JobSlot(tmp_path, "/ckpt"))
    sup = supervisor(tmp_path, job, clock, lambda: Progress(None, 5), alerts)
    polls = [0]

    def die_then_stop(seconds: float) -> None:
        clock.now += seconds
        polls[0] += 1
        if polls[0] == 1:
            job.alive = False  # seen at the first poll: a restart is due after the backoff
        elif polls[0] == 2:
            job.slot.stop_file.touch()  # the Airflow task is killed while the supervisor waits

    sup.sleep = die_then_stop
    report = sup.run()
    assert report.stopped_by == "stop request" and job.starts == 1 and report.restarts == 0


def test_an_alert_that_could_never_fire_before_giving_up_is_refused() -> None:
    with pytest.raises(ValueError, match=r"alert_after_failures \(7\) must not exceed max_consecutive_failures \+ 1"):
        OrchestrationSettings(alert_after_failures=7, max_consecutive_failures=5)
    assert OrchestrationSettings(alert_after_failures=6, max_consecutive_failures=5).alert_after_failures == 6


def test_the_supervisor_of_a_retried_task_resolves_the_alert_its_predecessor_fired(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pixguard.monitoring.alert_sinks as alert_sinks
    from pixguard.config import load_bundle, load_streaming_config
    from pixguard.orchestration.supervisor import ops_alert
    from tests.unit.test_config import MINIMAL_BUNDLE, PROJECT_ROOT, write_bundle

    sent = []

    class Recorded:
        def __init__(self, *args: object) -> None:
            pass

        def send(self, event) -> None:  # noqa: ANN001
            sent.append(event)

    monkeypatch.setattr(alert_sinks, "KafkaAlertSink", Recorded)
    bundle = load_bundle(write_bundle(tmp_path, MINIMAL_BUNDLE), state_dir=tmp_path / "state")
    config = load_streaming_config(PROJECT_ROOT)
    slot = JobSlot(tmp_path / "run", "/ckpt")

    # The first try fires (the job keeps dying) and gives up.
    clock = FakeClock()
    job = FakeJob(slot)
    first = Supervisor(
        job,
        lambda: Progress(None, 5),
        SETTINGS,
        ops_alert(bundle, config, "r", "j", slot.open_alert_file),
        clock,
        clock.sleep,
    )  # type: ignore[arg-type]

    first.sleep = dying_at_every_poll(clock, job)
    with pytest.raises(SupervisorGaveUp):
        first.run()
    assert [e.status for e in sent] == ["firing"] and slot.open_alert_file.exists()

    # Airflow's retry: a new supervisor, the job now commits batches.
    clock = FakeClock()
    job = FakeJob(slot)
    second = Supervisor(
        job,  # type: ignore[arg-type]
        lambda: Progress(clock.now, 0),
        SETTINGS,
        ops_alert(bundle, config, "r", "j", slot.open_alert_file),
        clock,
        clock.sleep,
        alert_open_at_start=slot.open_alert_file.exists(),
    )
    second.run(run_for_s=30)
    assert [e.status for e in sent] == ["firing", "resolved"]
    assert sent[1].alert_id == sent[0].alert_id and sent[1].started_at == sent[0].started_at
    assert not slot.open_alert_file.exists()


def test_a_supervisor_alert_reaches_the_configured_webhook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    import pixguard.monitoring.alert_sinks as alert_sinks
    from pixguard.config import load_bundle, load_streaming_config
    from pixguard.orchestration.supervisor import ops_alert
    from tests.unit.test_config import MINIMAL_BUNDLE, PROJECT_ROOT, write_bundle

    received: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    class NoBroker:
        def __init__(self, *args: object) -> None:
            pass

        def send(self, event: object) -> None:
            pass

    monkeypatch.setattr(alert_sinks, "KafkaAlertSink", NoBroker)
    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        bundle = load_bundle(write_bundle(tmp_path, MINIMAL_BUNDLE), state_dir=tmp_path / "state")
        config = load_streaming_config(PROJECT_ROOT)
        hooked = config.monitoring.model_copy(update={"webhook_url": f"http://127.0.0.1:{server.server_port}/hook"})
        config = config.model_copy(update={"monitoring": hooked})
        alert = ops_alert(bundle, config, "streaming_job_restarts", "pixguard-streaming", tmp_path / "episode.json")
        alert("firing", "the streaming job died 3 times in a row", 3)
    finally:
        server.shutdown()
    assert [(e["rule"], e["status"], e["value"]) for e in received] == [("streaming_job_restarts", "firing", 3.0)]


def test_stopping_job_processes_terminates_them_and_kills_one_that_ignores_sigterm() -> None:
    import subprocess
    import sys

    from pixguard.jobs import stop_job_processes

    polite = subprocess.Popen(["sleep", "60"])
    stubborn = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
    )
    stubborn.stdout.readline()  # its handler is in place
    stop_job_processes([polite, stubborn], timeout_s=1)
    stubborn.wait(10)
    assert polite.returncode == -15 and stubborn.returncode == -9


def test_a_low_priority_job_runs_in_a_session_ranked_below_the_others() -> None:
    """With autogroups, nice alone ranks a process only against its own session: the job's session
    gets the job's nice too, and the session that launched it keeps its own."""
    import subprocess

    from pixguard.config import Job

    autogroup = Path("/proc/self/autogroup")
    before = autogroup.read_text() if autogroup.exists() else None
    probe = "nice; cat /proc/self/autogroup 2>/dev/null || echo no-autogroup"
    job = Job(entry_point="jobs/archive.py", nice=19)
    out = subprocess.run(
        job.launch_command(["sh", "-c", probe]), capture_output=True, text=True, check=True, start_new_session=True
    ).stdout.splitlines()
    assert out[0] == "19"
    if before is None:
        assert out[1] == "no-autogroup"
    else:
        assert out[1].endswith("nice 19")
        assert autogroup.read_text() == before  # the launching session is not lowered
