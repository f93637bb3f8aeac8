"""Where a micro-batch's time goes, per Spark stage, with nothing else on the cores.

Replays the `transactions_raw` table of a `bench/streaming_throughput.py` run (its `home-RATE`
folder) through the streaming job's own read, validation, features and batch function
(`DecisionBatch`, publishing to the run's topics), one Delta file a batch, with an `availableNow`
trigger. For each batch it prints the job's phases, then each Spark job and stage with its wall,
executor run and CPU time, read from the Spark UI's REST API. The publisher and the bench's consumer
do not run, so the batch duration is the job's capacity alone.

Run (needs `pixguard up`, for the champion model and the topics):
  .venv/bin/python bench/batch_profile.py --home /tmp/bench/X/home-1000 \
      --config /tmp/bench/X/streaming-1000.yaml --workdir /tmp/bench/profile

`--conf KEY=VALUE` (repeatable) and `--master` try a setting on the same replay; the last line sums
the batches of `--min-rows` or more, to compare runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
import urllib.request
from datetime import datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
UI_PORT = "4077"


def _epoch(spark_ui_time: str) -> float:
    return datetime.fromisoformat(spark_ui_time.replace("GMT", "+00:00")).timestamp()


def _ui_json(ui: str, path: str) -> list[dict]:
    with urllib.request.urlopen(f"{ui}/api/v1/applications/{path}") as answer:
        return json.load(answer)


def _setting(text: str) -> tuple[str, str]:
    key, equals, value = text.partition("=")
    if not (key and equals):
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    return key, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--home", type=Path, required=True, help="a streaming_throughput run's home-RATE folder")
    parser.add_argument("--config", type=Path, required=True, help="that run's streaming-RATE.yaml")
    parser.add_argument("--workdir", type=Path, required=True, help="scratch folder (emptied first)")
    parser.add_argument("--min-rows", type=int, default=5000, help="print the stages of batches this large")
    parser.add_argument("--master", help="the Spark master to try instead of the local target's")
    parser.add_argument(
        "--conf",
        action="append",
        type=_setting,
        default=[],
        metavar="KEY=VALUE",
        help="a Spark setting to try (repeatable)",
    )
    args = parser.parse_args()

    # A copy of the run's home without its decisions: the replay writes its own.
    shutil.rmtree(args.workdir, ignore_errors=True)
    home = args.workdir / "home"
    shutil.copytree(args.home, home, ignore=shutil.ignore_patterns("checkpoints", "decisions"))
    os.environ["PIXGUARD_HOME"] = str(home)

    from pyspark.sql import functions as F

    from pixguard.config import load_bundle, load_streaming_config
    from pixguard.spark import build_spark_session
    from pixguard.stream.decisions import DecisionBatch
    from pixguard.stream.job import checked_and_featured
    from pixguard.stream.raw import as_kafka_records

    bundle = load_bundle(PROJECT_ROOT)
    config = load_streaming_config(PROJECT_ROOT, args.config)
    # The profile reads the Spark UI's REST API, which the local target turns off.
    bundle.target.spark.conf.update({"spark.ui.enabled": "true", "spark.ui.port": UI_PORT})
    tried = dict(args.conf)
    bundle.jobs["streaming"].spark_conf.update(tried)
    if args.master:
        tried["master"] = args.master
        spark_settings = bundle.target.spark.model_copy(update={"master": args.master})
        bundle = bundle.model_copy(update={"target": bundle.target.model_copy(update={"spark": spark_settings})})
    spark = build_spark_session(bundle, "streaming", "pixguard-batch-profile")
    spark.sparkContext.setLogLevel("ERROR")
    ui = spark.sparkContext.uiWebUrl
    app = spark.sparkContext.applicationId
    print(f"machine: {platform.node()}, {os.cpu_count()} cores, load average {os.getloadavg()}, {time.ctime()}")
    print(f"settings tried: {tried or 'none'}")

    raw_table = bundle.target.table_path("transactions_raw")
    raw = spark.readStream.format("delta").option("maxFilesPerTrigger", 1).load(raw_table)
    # Event times are checked against the payments' arrival, as a backfill does: checked against the
    # clock, payments replayed later could be quarantined as too old, and the replay would decide fewer.
    transactions = checked_and_featured(as_kafka_records(raw), bundle, config, now=F.col("kafka_timestamp"))
    decide = DecisionBatch(bundle, config, lambda: "batch-profile", publish_to_kafka=True)
    reported: set[int] = set()
    large_batches: list[tuple[int, float]] = []

    def profiled(batch_df, batch_id: int) -> None:  # noqa: ANN001 - Spark's foreachBatch signature
        started = time.time()
        decide(batch_df, batch_id)
        outcome = decide.outcomes[-1]
        took = time.time() - started
        print(f"batch {batch_id}: {outcome.consumed} rows in {took:.2f} s, phases {outcome.phase_ms}")
        if outcome.consumed >= args.min_rows:
            large_batches.append((outcome.consumed, took))
        for job in sorted(_ui_json(ui, f"{app}/jobs"), key=lambda j: j["jobId"]):
            if job["jobId"] in reported or job.get("status") != "SUCCEEDED":
                continue
            reported.add(job["jobId"])
            if outcome.consumed < args.min_rows:
                continue
            submitted = _epoch(job["submissionTime"])
            print(
                f"  job {job['jobId']} at +{submitted - started:.2f} s, wall"
                f" {_epoch(job['completionTime']) - submitted:.2f} s: {job['name'][:60]}"
            )
            for stage_id in job["stageIds"]:
                stages = [s for s in _ui_json(ui, f"{app}/stages/{stage_id}") if s.get("status") == "COMPLETE"]
                for stage in stages:
                    print(
                        f"    stage {stage_id}: {stage['numTasks']} tasks, wall"
                        f" {_epoch(stage['completionTime']) - _epoch(stage['submissionTime']):.2f} s,"
                        f" run {stage['executorRunTime']} ms, cpu {stage['executorCpuTime'] // 1_000_000} ms,"
                        f" gc {stage['jvmGcTime']} ms,"
                        f" rows in {stage['inputRecords']}, shuffle read {stage['shuffleReadRecords']}"
                        f" / written {stage['shuffleWriteRecords']}"
                    )

    checkpoint = args.workdir / "checkpoint"
    query = transactions.writeStream.option("checkpointLocation", str(checkpoint)).foreachBatch(profiled)
    query.trigger(availableNow=True).start().awaitTermination()
    rows = sum(consumed for consumed, _ in large_batches)
    seconds = sum(took for _, took in large_batches)
    if seconds:
        print(
            f"batches of {args.min_rows}+ rows: {len(large_batches)}, {rows} rows in {seconds:.1f} s,"
            f" {rows / seconds:.0f} rows/s"
        )


if __name__ == "__main__":
    main()
