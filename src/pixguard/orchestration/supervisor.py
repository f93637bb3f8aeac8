"""Supervision of a continuous job of the bundle (the streaming job, the archive job), as Airflow's
`pix_streaming` and `pix_archive` run it (and testable without Airflow).

- One instance only: the supervisor holds an exclusive `flock` on a lock file keyed by the job's
  checkpoint, and the job's pid (with its start time) is recorded next to it. A retried Airflow task
  whose previous attempt left the job running adopts that job instead of starting a second one; a
  second supervisor on the same checkpoint is refused while the first one lives.
- Dead: the recorded process is gone. Stalled: no batch committed to the checkpoint of the job's
  watched query (`hot_path`, `decisions_archive`) for `stall_timeout_s` while records wait in its
  Kafka topic (a stream without input is idle, not stalled).
- Either way the job's whole process group is stopped and the job is started again: Spark resumes
  from its checkpoint. After `alert_after_failures` consecutive failures an alert goes to the same
  sinks as the stream's monitoring; after `max_consecutive_failures` the supervisor gives up.
- A stop request (a file next to the lock, `request_stop`) ends supervision and stops the job gracefully.

Checkpoints are read where they are, a local folder or object storage (pyarrow's filesystems, with
the credentials of the Airflow worker's environment).
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import psutil

from pixguard.stack.processes import ManagedProcess, group_members

if TYPE_CHECKING:
    from pixguard.config import Bundle, OrchestrationSettings, StreamingConfig

log = logging.getLogger("pixguard.orchestration.supervisor")


@dataclass(frozen=True)
class WatchedQuery:
    """The query whose progress tells that a job works, and the topic it reads."""

    query: str
    topic: str


def watched_query(job: str, config: StreamingConfig) -> WatchedQuery:
    """Names as in pixguard.stream.hot_path.HOT_PATH_QUERY and pixguard.stream.archive (not imported:
    this module runs in Airflow's workers, without pyspark)."""
    from pixguard.config import BUNDLE_FILE, ConfigError

    if job == "streaming":
        return WatchedQuery("hot_path", config.topics.transactions.name)
    if job == "archive":
        return WatchedQuery("decisions_archive", config.topics.decision_log.name)
    raise ConfigError(
        BUNDLE_FILE, f"jobs.{job}", "only the streaming and archive jobs run continuously and are supervised"
    )


class AlreadySupervised(RuntimeError):
    pass


class SupervisorGaveUp(RuntimeError):
    pass


# ------------------------------------------------------------------ progress, read from the checkpoint


@dataclass(frozen=True)
class Progress:
    last_commit_at: float | None  # epoch seconds of the newest committed batch, None before the first
    pending_records: int  # records in Kafka after the last committed offsets


@functools.lru_cache(maxsize=8)  # an object store's client (and its region lookup) once, not every poll
def checkpoint_filesystem(checkpoint: str):  # noqa: ANN201 - a pyarrow FileSystem and the path in it
    """Where a checkpoint lives, as Spark names it: a local path or a URI (file:, s3a://, gs://,
    abfss://...). Hadoop's S3 scheme is `s3a`; pyarrow's is `s3`."""
    from urllib.parse import urlsplit

    from pyarrow import fs

    scheme = urlsplit(checkpoint).scheme
    if scheme in ("", "file"):
        return fs.LocalFileSystem(), str(Path(urlsplit(checkpoint).path if scheme else checkpoint).absolute())
    return fs.FileSystem.from_uri(("s3" if scheme == "s3a" else scheme) + checkpoint[len(scheme) :])


def committed_offsets(checkpoint: str | Path) -> tuple[float | None, dict[str, dict[int, int]]]:
    """Time of the newest commit and, per topic and partition, the next offset that batch left to read."""
    from pyarrow import fs

    filesystem, root = checkpoint_filesystem(str(checkpoint))
    listing = filesystem.get_file_info(fs.FileSelector(f"{root}/commits", allow_not_found=True))
    commits = sorted((f for f in listing if f.is_file and f.base_name.isdigit()), key=lambda f: int(f.base_name))
    if not commits:
        return None, {}
    newest = commits[-1]
    # A store that gives no modification time: taken as now, i.e. never a stall (as when unreadable).
    committed_at = newest.mtime_ns / 1e9 if newest.mtime_ns is not None else time.time()
    offsets: dict[str, dict[int, int]] = {}
    offsets_file = f"{root}/offsets/{newest.base_name}"
    if filesystem.get_file_info(offsets_file).is_file:
        with filesystem.open_input_stream(offsets_file) as stream:
            lines = stream.read().decode().splitlines()
        # Line 1: version, line 2: batch metadata, then one JSON object per source.
        for line in lines[2:]:
            with contextlib.suppress(ValueError):
                source = json.loads(line)
                if isinstance(source, dict):
                    for topic, partitions in source.items():
                        offsets[topic] = {int(p): int(o) for p, o in partitions.items()}
    return committed_at, offsets


def pending_records(end_offsets: dict[int, tuple[int, int]], committed: dict[int, int] | None) -> int:
    """Records not yet consumed: per partition, the high watermark minus the committed offset (or the
    low watermark when nothing was committed yet)."""
    waiting = 0
    for partition, (low, high) in end_offsets.items():
        start = (committed or {}).get(partition, low)
        waiting += max(0, high - max(start, low))
    return waiting


def kafka_end_offsets(bundle: Bundle, topic: str, timeout_s: float = 10.0) -> dict[int, tuple[int, int]]:
    from confluent_kafka import Consumer

    consumer = Consumer({**bundle.target.kafka.client_config(), "group.id": f"pixguard-supervisor-{uuid.uuid4()}"})
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s)
        partitions = metadata.topics[topic].partitions if topic in metadata.topics else {}
        return {
            p: consumer.get_watermark_offsets(_partition(topic, p), timeout=timeout_s, cached=False) for p in partitions
        }
    finally:
        consumer.close()


def _partition(topic: str, partition: int):  # noqa: ANN202
    from confluent_kafka import TopicPartition

    return TopicPartition(topic, partition)


def read_progress(checkpoint: str, end_offsets: Callable[[], dict[int, tuple[int, int]]], topic: str) -> Progress:
    """Progress as the checkpoint and Kafka tell it. Either one unreadable for a poll (storage or
    broker down, credentials expiring) leaves the job's health unknown: the failure is logged and
    nothing counts as waiting, so it is never taken for a stall (a dead job is still seen)."""
    try:
        committed_at, offsets = committed_offsets(checkpoint)
    except OSError as exc:
        log.warning("cannot read the checkpoint %s: %s", checkpoint, exc)
        return Progress(None, 0)
    try:
        waiting = pending_records(end_offsets(), offsets.get(topic))
    except Exception as exc:  # noqa: BLE001 - Kafka unreachable: the job cannot progress either; not its fault
        log.warning("cannot read Kafka end offsets of %s: %s", topic, exc)
        waiting = 0
    return Progress(committed_at, waiting)


def checkpoint_probe(bundle: Bundle, watched: WatchedQuery) -> Callable[[], Progress]:
    checkpoint, topic = bundle.target.checkpoint_path(watched.query), watched.topic
    return lambda: read_progress(checkpoint, lambda: kafka_end_offsets(bundle, topic), topic)


# ------------------------------------------------------------------ the job's process and the lock


def _key(checkpoint: str) -> str:
    return hashlib.sha1(checkpoint.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class JobSlot:
    """Where the one instance of a continuous job is recorded: lock, pid file, log and stop request."""

    run_dir: Path
    checkpoint: str
    job: str = "streaming"

    @classmethod
    def for_job(cls, bundle: Bundle, job: str, config: StreamingConfig) -> JobSlot:
        return cls(bundle.state_dir / "run", bundle.target.checkpoint_path(watched_query(job, config).query), job)

    @property
    def name(self) -> str:
        return f"{self.job}-{_key(self.checkpoint)}"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess(self.name, self.run_dir)

    @property
    def lock_file(self) -> Path:
        return self.run_dir / f"{self.name}.lock"

    @property
    def stop_file(self) -> Path:
        return self.run_dir / f"{self.name}.stop"

    @property
    def open_alert_file(self) -> Path:
        """The restart alert firing, if one is: a retried task resolves it under the same alert_id."""
        return self.run_dir / f"{self.name}.alert.json"

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Held for the supervisor's lifetime; the kernel releases it when the holder dies."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.lock_file.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                raise AlreadySupervised(
                    f"the {self.job} job on checkpoint {self.checkpoint} is supervised already "
                    f"({handle.read().strip() or 'holder unknown'}; lock {self.lock_file})"
                ) from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"supervisor pid {os.getpid()} since {datetime.now(UTC).isoformat(timespec='seconds')}\n")
            handle.flush()
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def request_stop(slot: JobSlot) -> None:
    """Ask the supervisor to stop the job and end (instead of restarting it)."""
    slot.run_dir.mkdir(parents=True, exist_ok=True)
    slot.stop_file.write_text(datetime.now(UTC).isoformat())


class StreamJob:
    """The job as a process group started from a command; survives the supervisor's own death."""

    def __init__(self, slot: JobSlot, command: Sequence[str], env: dict[str, str], stop_timeout_s: float) -> None:
        self.slot, self.command, self.env, self.stop_timeout_s = slot, list(command), env, stop_timeout_s

    def pid(self) -> int | None:
        pid = self.slot.process.pid()
        if pid is None:
            self._reap()
        return pid

    def start(self) -> int:
        self.stop()  # what a previous job left behind, if anything: never two jobs
        return self.slot.process.start(self.command, env=self.env, cwd=self.slot.run_dir)

    def stop(self) -> None:
        """The driver first: on SIGTERM it stops its queries and its session and exits, and the
        spark-submit JVM leading the group ends with it. Then whatever is left of the process group,
        a dead leader's leftovers included. Signalled all at once, the JVM would stop the SparkContext
        under the running queries and fill the job's log with their stack traces."""
        record = self.slot.process.recorded()
        if record is not None and (drivers := self._drivers(record[0])):
            for pid in drivers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + self.stop_timeout_s
            while time.monotonic() < deadline and group_members(record[0]):
                time.sleep(0.2)
        self.slot.process.stop(timeout_s=self.stop_timeout_s)
        if record:
            self._reap(record[0])

    def _drivers(self, group: int) -> list[int]:
        """The group's processes that run the job's Python script: the driver, a child of spark-submit's
        JVM (or the leader itself when the command is `python jobs/streaming.py`)."""
        scripts = {Path(arg).name for arg in self.command if arg.endswith(".py")}
        found = []
        for pid in group_members(group):
            with contextlib.suppress(psutil.Error):
                cmdline = psutil.Process(pid).cmdline()
                if cmdline and "python" in Path(cmdline[0]).name and scripts & {Path(a).name for a in cmdline[1:]}:
                    found.append(pid)
        return found

    def _reap(self, pid: int | None = None) -> None:
        record = self.slot.process.recorded()
        pid = pid if pid is not None else (record[0] if record else None)
        if pid is not None:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)


# ------------------------------------------------------------------ the loop


@dataclass
class SupervisionReport:
    job: str = "streaming"
    started: int = 0
    adopted: bool = False
    restarts: int = 0
    deaths: int = 0
    stalls: int = 0
    alerts: list[str] = field(default_factory=list)
    stopped_by: str = ""

    def summary(self) -> str:
        return (
            f"{self.job} job: {'adopted a running one, ' if self.adopted else ''}started {self.started}x, "
            f"restarts {self.restarts} (deaths {self.deaths}, stalls {self.stalls}), alerts {len(self.alerts)}; "
            f"supervision ended by {self.stopped_by}"
        )


AlertFn = Callable[[str, str, int], None]  # (status: firing|resolved, summary, consecutive failures)


@dataclass
class Supervisor:
    job: StreamJob
    probe: Callable[[], Progress]
    settings: OrchestrationSettings
    alert: AlertFn
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    # An alert a previous supervisor of this job (an earlier try of the Airflow task) left firing:
    # this one resolves it once the job is healthy.
    alert_open_at_start: bool = False

    def run(self, run_for_s: float | None = None) -> SupervisionReport:
        what = f"{self.job.slot.job} job"
        report = SupervisionReport(self.job.slot.job)
        stop_file = self.job.slot.stop_file
        stop_file.unlink(missing_ok=True)
        deadline = None if run_for_s is None else self.clock() + run_for_s
        if (pid := self.job.pid()) is not None:
            report.adopted = True
            log.info("adopting the running %s (pid %s) instead of starting another", what, pid)
        else:
            log.info("starting the %s (pid %s)", what, self.job.start())
            report.started += 1
        started_at, failures, alerting = self.clock(), 0, self.alert_open_at_start
        while True:
            self.sleep(self.settings.supervisor_poll_interval_s)
            if stop_file.exists():
                report.stopped_by = "stop request"
                break
            if deadline is not None and self.clock() >= deadline:
                report.stopped_by = f"run_for_s={run_for_s:g}"
                break
            failure = self._failure(started_at, report)
            if failure is None:
                continue
            if failure in ("progress", "idle"):  # a batch committed, or nothing to read: healthy again
                if alerting:
                    state = "progressing" if failure == "progress" else "up, with nothing to read"
                    self.alert("resolved", f"{what} is {state} again", failures)
                    alerting = False
                failures = 0
                if failure == "progress":
                    started_at = self.clock()
                continue
            failures += 1
            log.error("%s %s (consecutive failures: %d)", what, failure, failures)
            self.job.stop()
            if failures >= self.settings.alert_after_failures and not alerting:
                summary = f"{what} {failure}; {failures} consecutive failures, restarting from its checkpoint"
                self.alert("firing", summary, failures)
                report.alerts.append(summary)
                alerting = True
            if failures > self.settings.max_consecutive_failures:
                raise SupervisorGaveUp(f"{what} failed {failures} times in a row (last: {failure})")
            # A job that dies as it starts (a broker or registry down) must not use up its restarts in
            # a minute: each restart of a run of failures waits twice as long as the one before.
            backoff = self._backoff_s(failures)
            if deadline is not None:
                backoff = min(backoff, max(deadline - self.clock(), 0.0))
            if self._stop_requested_within(backoff, stop_file):
                report.stopped_by = "stop request"
                break
            if deadline is not None and self.clock() >= deadline:
                report.stopped_by = f"run_for_s={run_for_s:g}"
                break
            log.warning("restarting the %s from its checkpoint (pid %s)", what, self.job.start())
            report.restarts += 1
            report.started += 1
            started_at = self.clock()
        self.job.stop()
        stop_file.unlink(missing_ok=True)
        return report

    def _backoff_s(self, failures: int) -> float:
        settings = self.settings
        return min(settings.restart_backoff_s * 2 ** (failures - 1), settings.restart_backoff_max_s)

    def _stop_requested_within(self, seconds: float, stop_file: Path) -> bool:
        """Wait `seconds`, looking for a stop request every poll interval (and once at the end, right
        before a restart: a killed task must not start a job it would leave behind)."""
        until = self.clock() + seconds
        while (left := until - self.clock()) > 0:
            self.sleep(min(left, self.settings.supervisor_poll_interval_s))
            if stop_file.exists():
                return True
        return stop_file.exists()

    def _failure(self, started_at: float, report: SupervisionReport) -> str | None:
        """None: running, nothing new. "progress": committed since started_at. "idle": up for a stall
        timeout with nothing to read (a quiet night must not chain earlier deaths into "consecutive"
        ones). Else what went wrong."""
        if self.job.pid() is None:
            report.deaths += 1
            return "died"
        progress = self.probe()
        if progress.last_commit_at is not None and progress.last_commit_at > started_at:
            return "progress"
        since = max(started_at, progress.last_commit_at or 0.0)
        if progress.pending_records == 0:
            return "idle" if self.clock() - started_at > self.settings.stall_timeout_s else None
        if self.clock() - since > self.settings.stall_timeout_s:
            report.stalls += 1
            return f"stalled ({progress.pending_records} records waiting, no batch for {self.clock() - since:.0f} s)"
        return None


# ------------------------------------------------------------------ wiring (the Airflow task calls this)


def ops_alert(bundle: Bundle, config: StreamingConfig, rule: str, job: str, episode_file: Path) -> AlertFn:
    """An AlertFn that sends through the stream monitoring's own sinks (log, Kafka ops alerts, webhook).
    The firing episode (alert_id, start) is kept in `episode_file` until it is resolved, so the
    supervisor of a retried task resolves the alert its predecessor fired."""
    from pixguard.monitoring.alert_sinks import dispatch, ops_alert_sinks
    from pixguard.monitoring.alerts import AlertEvent

    sinks = ops_alert_sinks(bundle, config)

    def send(status: str, summary: str, failures: int) -> None:
        now = datetime.now(UTC)
        episode = _read_episode(episode_file)
        if status == "firing" or episode is None:
            episode = {"alert_id": f"{rule}-{uuid.uuid4().hex[:12]}", "started_at": now.isoformat()}
        event = AlertEvent(
            alert_id=episode["alert_id"],
            rule=rule,
            status=status,  # type: ignore[arg-type]
            severity="critical",
            metric="consecutive_failures",
            comparison=">=",
            threshold=float(config.orchestration.alert_after_failures),
            value=float(failures),
            started_at=datetime.fromisoformat(episode["started_at"]),
            at=now,
            job=job,
            summary=summary,
        )
        dispatch([event], sinks)
        try:  # after sending: a file that cannot be written must not cost the alert itself
            if status == "firing":
                episode_file.parent.mkdir(parents=True, exist_ok=True)
                partial = episode_file.with_suffix(".partial")
                partial.write_text(json.dumps(episode))
                partial.replace(episode_file)
            else:
                episode_file.unlink(missing_ok=True)
        except OSError as exc:
            log.error("cannot record the alert episode in %s: %s", episode_file, exc)

    return send


def _read_episode(path: Path) -> dict[str, str] | None:
    try:
        episode = json.loads(path.read_text())
        return {"alert_id": str(episode["alert_id"]), "started_at": str(episode["started_at"])}
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("cannot read the open alert in %s (%s): a new alert id is used", path, exc)
        return None


def refuse_remote_driver(bundle: Bundle) -> None:
    """The supervisor watches, stops and restarts the job as a process of its own host. In cluster
    deploy mode that process is only spark-submit: killing it leaves the driver running on the
    cluster, and a restart would start a second one on the same checkpoint."""
    from pixguard.config import BUNDLE_FILE, ConfigError

    if bundle.target.spark.deploy_mode != "client":
        raise ConfigError(
            BUNDLE_FILE,
            f"targets.{bundle.target.name}.spark.deploy_mode",
            f"a supervised streaming job runs its driver where Airflow runs the task; "
            f"'{bundle.target.spark.deploy_mode}' would leave a driver the supervisor cannot stop: use 'client'",
        )


def supervise_job(
    bundle: Bundle,
    config: StreamingConfig,
    job_name: str,
    command: Sequence[str],
    env: dict[str, str],
    run_for_s: float | None,
) -> SupervisionReport:
    """Keep the bundle's continuous job `job_name` running from `command` (spark-submit as the Spark
    provider builds it), started at the job's OS priority."""
    refuse_remote_driver(bundle)
    settings = config.orchestration
    slot = JobSlot.for_job(bundle, job_name, config)
    with slot.exclusive():
        job = StreamJob(slot, bundle.job(job_name).launch_command(list(command)), env, settings.stop_timeout_s)
        alert = ops_alert(bundle, config, f"{job_name}_job_restarts", f"{bundle.name}-{job_name}", slot.open_alert_file)
        supervisor = Supervisor(
            job,
            checkpoint_probe(bundle, watched_query(job_name, config)),
            settings,
            alert,
            alert_open_at_start=slot.open_alert_file.exists(),
        )
        return supervisor.run(run_for_s)
