"""A StreamingQueryListener that hands every query event of the session to the JobMonitor.

In PySpark the Python listener runs in the driver's Python process: the JVM's listener bus calls
it back through py4j, on the bus thread, after each trigger. So the callbacks must be quick and
must not raise (an exception would only be printed by py4j and the event lost): they parse the
progress JSON and pass it on. On a cluster this is still the driver (in `deploy_mode: cluster`,
the driver's container), so the metrics endpoint lives wherever the driver runs; executors do not
see these events. With Spark Connect the listener would run in a server-side Python process
instead, and its state would not be this process's."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from pyspark.sql.streaming import StreamingQueryListener

from pixguard.monitoring.progress import progress_metrics

if TYPE_CHECKING:
    from pyspark.sql.streaming.listener import (
        QueryIdleEvent,
        QueryProgressEvent,
        QueryStartedEvent,
        QueryTerminatedEvent,
    )

    from pixguard.monitoring.job_monitor import JobMonitor

log = logging.getLogger("pixguard.monitoring")


class MetricsListener(StreamingQueryListener):
    def __init__(self, monitor: JobMonitor) -> None:
        self.monitor = monitor
        self._names: dict[str, str] = {}  # query id -> name: idle and terminated events carry only the id

    def already_running(self, queries: dict[str, str]) -> None:
        """Queries started before the listener was added (id -> name): their started event was missed."""
        self._names.update(queries)

    def _name(self, query_id: object) -> str:
        return self._names.get(str(query_id), str(query_id))

    def onQueryStarted(self, event: QueryStartedEvent) -> None:
        try:
            self._names[str(event.id)] = event.name or str(event.id)
            self.monitor.on_started(self._name(event.id))
        except Exception:  # noqa: BLE001 - see module docstring
            log.exception("listener: query started event")

    def onQueryProgress(self, event: QueryProgressEvent) -> None:
        try:
            progress = progress_metrics(json.loads(event.progress.json))
            self._names[progress.query_id] = progress.query
            self.monitor.on_progress(progress)
        except Exception:  # noqa: BLE001
            log.exception("listener: query progress event")

    def onQueryIdle(self, event: QueryIdleEvent) -> None:
        try:
            self.monitor.on_idle(self._name(event.id))
        except Exception:  # noqa: BLE001
            log.exception("listener: query idle event")

    def onQueryTerminated(self, event: QueryTerminatedEvent) -> None:
        try:
            self.monitor.on_terminated(self._name(event.id), event.exception)
        except Exception:  # noqa: BLE001
            log.exception("listener: query terminated event")
