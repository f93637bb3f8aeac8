"""A progress bar over the Spark jobs a block of driver code runs (the status tracker, polled)."""

from __future__ import annotations

import threading
import uuid
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


class SparkProgress:
    """`with SparkProgress(spark, "deciding"):` shows the tasks done of every Spark job started inside
    the block, on stderr (tqdm). The jobs are tagged with a job group of their own."""

    def __init__(self, spark: SparkSession, description: str, enabled: bool = True, poll_s: float = 0.5) -> None:
        self.spark, self.description, self.enabled, self.poll_s = spark, description, enabled, poll_s
        self.group = f"pixguard-{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> SparkProgress:
        self.spark.sparkContext.setJobGroup(self.group, self.description)
        if self.enabled:
            self._thread = threading.Thread(target=self._show, name="pixguard-progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.spark.sparkContext.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]

    def tasks(self) -> tuple[int, int]:
        """(done, total) tasks of the block's jobs so far."""
        tracker = self.spark.sparkContext.statusTracker()
        done = total = 0
        for job_id in tracker.getJobIdsForGroup(self.group):
            job = tracker.getJobInfo(job_id)
            for stage_id in job.stageIds if job else ():
                stage = tracker.getStageInfo(stage_id)
                if stage is not None:
                    done += stage.numCompletedTasks
                    total += stage.numTasks
        return done, total

    def _show(self) -> None:
        from tqdm import tqdm

        with tqdm(desc=self.description, unit="task", total=0, smoothing=0) as bar:
            while not self._stop.wait(self.poll_s):
                done, total = self.tasks()
                bar.total, bar.n = max(total, done), done
                bar.refresh()
            done, total = self.tasks()
            bar.total, bar.n = max(total, done), done
            bar.refresh()
