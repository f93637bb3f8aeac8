"""Where a micro-batch's time goes, from Spark's event log (`spark.eventLog.enabled`): for the last
N jobs (one per micro-batch on the hot path), each stage's wall time and its tasks' run, CPU, GC and
deserialization times, medians and 90th percentiles.

Run: .venv/bin/python bench/spark_stages.py EVENT_LOG_FILE [--jobs 150]
(the file Spark wrote under spark.eventLog.dir; `zstd -d` it first if it ends in .zstd)."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("event_log")
    parser.add_argument("--jobs", type=int, default=150)
    args = parser.parse_args()
    stages: dict[int, dict] = {}
    tasks: dict[int, list[dict]] = defaultdict(list)
    jobs: dict[int, dict] = {}
    ends: dict[int, dict] = {}
    with open(args.event_log) as log:
        for line in log:
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerStageCompleted":
                stages[event["Stage Info"]["Stage ID"]] = event["Stage Info"]
            elif kind == "SparkListenerTaskEnd":
                tasks[event["Stage ID"]].append(event)
            elif kind == "SparkListenerJobStart":
                jobs[event["Job ID"]] = event
            elif kind == "SparkListenerJobEnd":
                ends[event["Job ID"]] = event
    chosen = [j for j in sorted(jobs) if j in ends][-args.jobs :]
    walls = [ends[j]["Completion Time"] - jobs[j]["Submission Time"] for j in chosen]
    by_position: dict[int, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for job in chosen:
        ran = [s for s in sorted(jobs[job]["Stage IDs"]) if s in stages]  # skipped stages never complete
        for position, stage_id in enumerate(ran):
            stage, figures = stages[stage_id], by_position[position]
            figures["stage wall"].append(stage["Completion Time"] - stage["Submission Time"])
            for task in tasks[stage_id]:
                metrics, info = task["Task Metrics"], task["Task Info"]
                figures["task wall"].append(info["Finish Time"] - info["Launch Time"])
                figures["task run"].append(metrics["Executor Run Time"])
                figures["task CPU"].append(metrics["Executor CPU Time"] / 1e6)
                figures["task GC"].append(metrics["JVM GC Time"])
                figures["task deserialize"].append(metrics["Executor Deserialize Time"])
    print(f"{len(chosen)} jobs: wall p50 {np.percentile(walls, 50):.0f} ms, p90 {np.percentile(walls, 90):.0f} ms")
    for position, figures in sorted(by_position.items()):
        print(f"stage {position}:")
        for name, values in figures.items():
            print(f"  {name:17s} p50 {np.percentile(values, 50):7.1f} ms  p90 {np.percentile(values, 90):7.1f} ms")


if __name__ == "__main__":
    main()
