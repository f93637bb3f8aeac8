"""The reference tables (DICT key registry and fraud marks) as the decision query joins them: read from
Delta, reduced to lookups, held in memory between micro-batches and read again every `refresh_s`.

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
from pixguard.delta_tables import read_if_exists
from pixguard.features.reference import ReferenceLookups, reference_lookups

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

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

    def _read(self, spark: SparkSession, name: str) -> DataFrame | None:
        return read_if_exists(spark, self.bundle.target.table_path(name))

    def _read_lookups(self, spark: SparkSession) -> ReferenceLookups:
        fresh = reference_lookups(
            self._read(spark, self.tables.key_registry), self._read(spark, self.tables.dict_marks)
        )
        held = ReferenceLookups(
            *(df.persist() if df is not None else None for df in (fresh.key_created_at, fresh.first_marks))
        )
        for df in (held.key_created_at, held.first_marks):
            if df is not None:
                df.count()  # into memory here, not in the micro-batch that first joins it
        return held

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
