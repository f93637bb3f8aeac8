"""The reference tables (DICT key registry and fraud marks) as the decision query joins them: read from
Delta, reduced to lookups, held in memory between micro-batches and read again every `refresh_s`.

Reading both tables and reducing them again for every micro-batch was a fixed cost per batch; the
price of holding them is that a new key or DICT mark reaches the decisions within `refresh_s`."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pixguard.config import Bundle, Tables
from pixguard.delta_tables import read_if_exists
from pixguard.features.reference import ReferenceLookups, reference_lookups

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class ReferenceTables:
    def __init__(
        self, bundle: Bundle, tables: Tables, refresh_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.bundle, self.tables, self.refresh_s = bundle, tables, refresh_s
        self._clock = clock
        self._current: ReferenceLookups | None = None
        self._read_at = float("-inf")

    def _read(self, spark: SparkSession, name: str) -> DataFrame | None:
        return read_if_exists(spark, self.bundle.target.table_path(name))

    def lookups(self, spark: SparkSession) -> ReferenceLookups:
        """The lookups in force; read afresh when `refresh_s` has passed since the last read."""
        if self._current is not None and self._clock() - self._read_at < self.refresh_s:
            return self._current
        fresh = reference_lookups(
            self._read(spark, self.tables.key_registry), self._read(spark, self.tables.dict_marks)
        )
        held = ReferenceLookups(
            *(df.persist() if df is not None else None for df in (fresh.key_created_at, fresh.first_marks))
        )
        previous, self._current, self._read_at = self._current, held, self._clock()
        for df in (previous.key_created_at, previous.first_marks) if previous else ():
            if df is not None:
                df.unpersist()
        return held
