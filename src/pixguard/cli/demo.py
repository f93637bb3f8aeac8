"""`make demo`: the product end to end on one machine.

1. the local stack (Kafka, MLflow, Airflow); 2. simulated history into Delta, run through the decision
pipeline; 3. a first model trained on it, registered and made champion; 4. the streaming job started;
5. live simulated traffic, decisions printed as they come; 6. a summary. The stack keeps running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pixguard.config import Bundle, ConfigError, StreamingConfig, load_bundle, load_streaming_config
from pixguard.jobs import start_job_process, stop_job_processes
from pixguard.stack.local import up
from pixguard.stack.processes import ServiceError

# The default training windows (model_registry/training.yaml) need 16 days before any training day.
HISTORY_DAYS = float(os.environ.get("PIXGUARD_DEMO_HISTORY_DAYS", "25"))
HISTORY_PER_DAY = int(os.environ.get("PIXGUARD_DEMO_HISTORY_PER_DAY", "12000"))
LIVE_RATE = float(os.environ.get("PIXGUARD_DEMO_RATE", "300"))
LIVE_SECONDS = float(os.environ.get("PIXGUARD_DEMO_SECONDS", "90"))
JOB_START_TIMEOUT_S = 300
# After the traffic ends, how long the demo waits for the job to decide the rest.
DRAIN_TIMEOUT_S = 300


def step(text: str) -> None:
    print(f"\n==> {text}", flush=True)


def history_and_first_model(bundle: Bundle, config: StreamingConfig) -> None:
    from pixguard.model.gate import TrainingSetRejected
    from pixguard.model.retrain import NotEnoughLabels, bootstrap_champion
    from pixguard.simulator.runs import run_history
    from pixguard.simulator.settings import HistorySettings, load_simulator_config

    simulator = load_simulator_config(bundle.project_root)
    simulator = simulator.model_copy(update={"history": HistorySettings(transactions_per_day=HISTORY_PER_DAY)})
    step(
        f"Simulated history: {HISTORY_DAYS:g} days x {HISTORY_PER_DAY} payments to Delta, through the decision pipeline"
    )
    run = run_history(bundle, config, simulator, HISTORY_DAYS, seed=2026)
    print(f"  {run.text()}")

    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    step("First model: train on decisions + matured fraud labels, quality gate, register, make it champion")
    try:
        result = bootstrap_champion(spark, bundle, config)
        print(f"  {result.summary()}" if result else "  a champion already exists: kept it")
    except (NotEnoughLabels, TrainingSetRejected) as exc:
        print(f"  no model trained: {exc}\n  the stream runs on the rules alone (a longer history fixes this)")
    # The backfill's state store maintenance thread outlives the session by up to a minute and then
    # logs a stack trace for the SparkEnv it no longer finds (a known, harmless Spark race on stop).
    spark.sparkContext.setLogLevel("ERROR")
    spark.stop()


def _start_jobs(bundle: Bundle) -> tuple[list[subprocess.Popen], str]:
    """The streaming job and the archive job, as Airflow's pix_streaming and pix_archive run them."""
    log_dir = bundle.state_dir / "run"
    log_dir.mkdir(parents=True, exist_ok=True)
    jobs = [
        start_job_process(bundle, name, ["--target", bundle.target.name], (log_dir / f"{name}-demo.log").open("ab"))
        for name in ("streaming", "archive")
    ]
    return jobs, str(log_dir / "{streaming,archive}-demo.log")


def _instant(text: str | None) -> datetime | None:
    """A timestamp as Spark's to_json writes it (`2026-11-27T13:49:00.533Z`); None when absent."""
    return datetime.fromisoformat(text) if text else None


@dataclass
class RunTally:
    """What the demo reads on pix.decisions and pix.dlq, told apart by run. The job first decides what an
    earlier run left in pix.transactions (a demo stopped before its job had caught up), so not every
    decision is one of this run's payments: those are the ones whose event time (decisions) or arrival
    on Kafka (quarantined records, whose event time may be what was malformed) is not before `since`,
    when this run's traffic started. A batch replayed after a crash publishes its decisions again:
    each payment counts once."""

    since: datetime
    decisions: Counter = field(default_factory=Counter)  # this run's, by kind
    decided_ids: set[str] = field(default_factory=set)
    dead_letters: set[tuple[int, int]] = field(default_factory=set)  # (partition, offset) of the record
    earlier: set[str] = field(default_factory=set)  # end_to_end_id, or partition:offset when quarantined

    def decision(self, decision: dict) -> bool:
        """Count a pix.decisions message; True when it is this run's payment, decided for the first time."""
        e2e, happened = decision["end_to_end_id"], _instant(decision.get("event_time"))
        if happened is None or happened < self.since:
            self.earlier.add(e2e)
            return False
        if e2e in self.decided_ids:
            return False
        self.decided_ids.add(e2e)
        self.decisions[decision["decision"]] += 1
        return True

    def dead_letter(self, dead: dict) -> None:
        record = (dead.get("partition"), dead.get("offset"))
        arrived = _instant(dead.get("kafka_timestamp"))
        if arrived is None or arrived < self.since:
            self.earlier.add(f"{record[0]}:{record[1]}")
        else:
            self.dead_letters.add(record)

    @property
    def settled(self) -> int:
        """This run's payments decided or quarantined."""
        return len(self.decided_ids) + len(self.dead_letters)


def _show_decisions(
    bundle: Bundle,
    config: StreamingConfig,
    traffic: threading.Thread,
    summary: dict,
    job: subprocess.Popen,
    tally: RunTally,
) -> None:
    """Print this run's decisions as they come until every payment sent is decided or quarantined
    (pix.dlq), or the job stops, or DRAIN_TIMEOUT_S after the traffic ended. Counts into `tally`."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    decisions, dlq = config.topics.decisions.name, config.topics.dlq.name
    consumer = Consumer({**bundle.target.kafka.client_config(), "group.id": f"demo-{time.time_ns()}"})
    listed = consumer.list_topics(timeout=10).topics
    consumer.assign([TopicPartition(t, p, OFFSET_END) for t in (decisions, dlq) for p in listed[t].partitions])
    counts = tally.decisions
    traffic_ended_at: float | None = None
    deadline = time.monotonic() + LIVE_SECONDS + JOB_START_TIMEOUT_S
    try:
        while job.poll() is None:
            if traffic_ended_at is None and not traffic.is_alive():
                traffic_ended_at = time.monotonic()
                deadline = max(deadline, traffic_ended_at + DRAIN_TIMEOUT_S)
            if traffic_ended_at is not None and "live" not in summary:
                break  # the traffic failed: main() says why
            if "live" in summary and tally.settled >= summary["live"].sent:
                break  # every payment sent has its decision
            if time.monotonic() > deadline:
                break
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            if message.topic() == dlq:
                tally.dead_letter(json.loads(message.value()))
                continue
            decision = json.loads(message.value())
            if not tally.decision(decision):
                continue
            if decision["decision"] != "APPROVE" or counts["APPROVE"] % 200 == 1:
                reasons = ", ".join(decision.get("reasons") or []) or "-"
                score = decision.get("score")
                amount = float(decision["amount_brl"])
                print(
                    f"  {decision['event_time'][11:23]} {decision['end_to_end_id']} R$ {amount:>10,.2f}"
                    f"  {decision['decision']:7} score {'-' if score is None else f'{score:.3f}'}"
                    f"  model v{decision.get('model_version') or '-'}  {reasons}",
                    flush=True,
                )
    finally:
        consumer.close()


def main() -> int:
    # The first model's training fetches its artifacts several times; progress bars would bury the steps.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    try:
        bundle = load_bundle(target="local")
        config = load_streaming_config(bundle.project_root)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2

    step("Starting the local stack: Kafka (KRaft), MLflow tracking server + registry, Airflow 3")
    try:
        statuses = up(bundle, config)
    except ServiceError as exc:
        print(f"local stack: {exc}", file=sys.stderr)
        return 1
    for s in statuses:
        print(f"  {s.name:8} {'ready' if s.ready else 'NOT READY':10} {s.url}")
    if not all(s.ready for s in statuses):
        print("local stack: not every service is ready; their logs are named above", file=sys.stderr)
        return 1
    print(f"  Airflow UI login: {bundle.target.airflow.admin_user} / {bundle.target.airflow.admin_password}")

    if HISTORY_DAYS > 0:
        history_and_first_model(bundle, config)

    step(
        "Starting the streaming job (jobs/streaming.py: Kafka -> validate -> features -> rules + model -> Kafka)"
        " and the archive job (jobs/archive.py: Kafka -> Delta, at a lower OS priority)"
    )
    (job, archive), log_path = _start_jobs(bundle)
    print(f"  pids {job.pid}, {archive.pid}; logs {log_path}")

    from pixguard.simulator.runs import default_seed, run_live
    from pixguard.simulator.settings import load_simulator_config

    simulator = load_simulator_config(bundle.project_root)
    summary: dict = {}

    def traffic_run() -> None:
        count = int(LIVE_RATE * LIVE_SECONDS)
        try:
            # Fraud reports a day late arrive a second late here, so fraud_labels fills during the demo.
            summary["live"] = run_live(
                bundle, config, simulator, LIVE_RATE, count, default_seed(), 86_400, progress=False
            )
        except Exception as exc:  # noqa: BLE001 - reported in the summary, with the job stopped
            summary["traffic_error"] = f"{type(exc).__name__}: {exc}"

    step(
        f"Live traffic: {LIVE_RATE:g} tx/s for {LIVE_SECONDS:g} s; decisions as they come (alerts, 1 in 200 approvals)"
    )
    traffic = threading.Thread(target=traffic_run, daemon=True)
    tally = RunTally(since=datetime.now(UTC))
    traffic.start()
    try:
        _show_decisions(bundle, config, traffic, summary, job, tally)
        for name, process in (("streaming", job), ("archive", archive)):
            if process.poll() is not None:
                print(f"  the {name} job stopped early (exit code {process.returncode}): see {log_path}")
        traffic.join()
    finally:
        stop_job_processes([job, archive])

    step("Summary")
    if "live" in summary:
        print(f"  simulator: {summary['live'].text()}")
    if "traffic_error" in summary:
        print(f"  the simulated traffic failed: {summary['traffic_error']}", file=sys.stderr)
    counts, quarantined = tally.decisions, len(tally.dead_letters)
    print(f"  decisions received on {config.topics.decisions.name}: {dict(counts)}; quarantined: {quarantined}")
    if tally.earlier:
        print(
            f"  the job also decided or quarantined {len(tally.earlier)} payments an earlier run had left in"
            f" {config.topics.transactions.name}: they are not counted above"
        )
    decided = tally.settled
    if "live" in summary and decided < summary["live"].sent:
        print(
            f"  {summary['live'].sent - decided} of the {summary['live'].sent} payments sent were not decided when"
            f" the demo stopped waiting: they stay in {config.topics.transactions.name}, and the streaming job"
            " decides them when it runs again (Airflow's pix_streaming and pix_archive DAGs, or jobs/streaming.py"
            " and jobs/archive.py)"
        )
    print(f"  Delta tables under {bundle.target.storage_root}; job logs {log_path}")
    print("  next: `pixguard model list`, `pixguard status`, `pixguard report`, the Airflow and MLflow UIs above")
    print("  the stack keeps running: `pixguard down` stops it (add --purge to delete all state)")
    return 0 if sum(counts.values()) and "traffic_error" not in summary else 1


if __name__ == "__main__":
    sys.exit(main())
