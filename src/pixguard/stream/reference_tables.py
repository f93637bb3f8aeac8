"""The reference tables (DICT key registry and fraud marks) as the decision query joins them: read from
Delta, reduced to lookups, held in memory between micro-batches and read again every `refresh_s`.
Each read notes the table versions it came from; a batch replayed after a crash reads the versions
its plan recorded, so a key or mark that arrived in between does not change its decisions.

Reading both tables and reducing them again for every micro-batch was a fixed cost per batch; the
price of holding them is that a new key or DICT mark reaches the decisions within `refresh_s` (plus
the time the new read takes). The new read runs beside the micro-batches, which go on with the held
lookups until it is in memory: read inside a batch, it made that batch several times longer."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pixguard.config import Bundle, Tables
from pixguard.delta_tables import read_version
from pixguard.features.reference import ReferenceLookups, reference_lookups

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger("pixguard.stream")


class ReferenceTables:
    def __init__(
        self, bundle: Bundle, tables: Tables, refresh_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.bundle, self.tables, self.refresh_s = bundle, tables, refresh_s
        self._clock = clock
        self._current: ReferenceLookups | None = None
        self._read_at = float("-inf")
        self._fresh: ReferenceLookups | None = None  # a finished read, not yet in force
        self._reading: threading.Thread | None = None
        self._replayed: list[ReferenceLookups] = []  # read for replayed batches, held until they commit

    def _read_lookups(self, spark: SparkSession, versions: dict[str, int | None] | None = None) -> ReferenceLookups:
        """The lookups from the latest versions, or from `versions` (None: the table did not exist)."""
        read = {}
        for name in (self.tables.key_registry, self.tables.dict_marks):
            if versions is not None and versions.get(name) is None:
                read[name] = (None, None)
            else:
                path = self.bundle.target.table_path(name)
                read[name] = read_version(spark, path, None if versions is None else versions[name])
        fresh = reference_lookups(read[self.tables.key_registry][0], read[self.tables.dict_marks][0])
        in_memory = ReferenceLookups(
            *(df.persist() if df is not None else None for df in (fresh.key_created_at, fresh.first_marks)),
            versions={name: version for name, (_, version) in read.items()},
        )
        for df in (in_memory.key_created_at, in_memory.first_marks):
            if df is not None:
                df.count()  # into memory here, not in the micro-batch that first joins it
        return in_memory

    def _read_beside(self, spark: SparkSession) -> None:
        try:
            self._fresh = self._read_lookups(spark)
        except Exception:  # noqa: BLE001 - the held lookups stay in force; the next interval tries again
            log.exception("reading the reference tables failed; keeping the held lookups")

    def lookups(self, spark: SparkSession) -> ReferenceLookups:
        """The lookups in force. The first call reads them; once `refresh_s` has passed since the last
        read began, a new read starts beside the batches and takes over from the call after it ends."""
        if self._current is None:
            self._current, self._read_at = self._read_lookups(spark), self._clock()
            return self._current
        if self._reading is not None and not self._reading.is_alive():
            self._reading = None
            if self._fresh is not None:
                previous, self._current, self._fresh = self._current, self._fresh, None
                for df in (previous.key_created_at, previous.first_marks):
                    if df is not None:
                        df.unpersist()
        if self._reading is None and self._clock() - self._read_at >= self.refresh_s:
            self._read_at = self._clock()
            self._reading = threading.Thread(
                target=self._read_beside, args=(spark,), name="reference-tables-read", daemon=True
            )
            self._reading.start()
        return self._current

    def lookups_as_of(
        self, spark: SparkSession, versions: dict[str, int | None], current: ReferenceLookups
    ) -> ReferenceLookups:
        """The lookups as they were at `versions`, for a batch replayed after a crash (its plan recorded
        them). When those versions can no longer be read (vacuumed), `current`: the lookups in force."""
        if versions == current.versions:
            return current
        try:
            pinned = self._read_lookups(spark, versions)
        except Exception:  # noqa: BLE001 - a replay that cannot be pinned is still decided
            log.exception("cannot read the reference tables at %s; the replay uses %s", versions, current.versions)
            return current
        self._replayed.append(pinned)
        return pinned

    def release_replayed(self) -> None:
        """Drop the lookups read for replays from memory (after the replayed batch has committed)."""
        for lookups in self._replayed:
            for df in (lookups.key_created_at, lookups.first_marks):
                if df is not None:
                    df.unpersist()
        self._replayed.clear()
