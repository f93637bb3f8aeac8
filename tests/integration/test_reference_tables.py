"""The decision query's reference tables: held in memory between micro-batches, read again every
refresh interval beside the batches (real Delta tables on a local SparkSession; the clock is the test's)."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

from pixguard.config import Tables
from pixguard.stream.reference_tables import ReferenceTables

CREATED = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_reference_tables_are_held_between_batches_and_read_again_after_the_interval(spark, bundle) -> None:  # noqa: ANN001
    run = uuid.uuid4().hex[:8]
    tables = Tables(key_registry=f"keys_{run}", dict_marks=f"marks_{run}")
    now = [0.0]
    reference = ReferenceTables(bundle, tables, refresh_s=60, clock=lambda: now[0])

    def add_key(key: str) -> None:
        spark.createDataFrame([(key, CREATED)], "key string, created_at timestamp").write.format("delta").mode(
            "append"
        ).save(bundle.target.table_path(tables.key_registry))

    def keys() -> set[str]:
        lookups = reference.lookups(spark)
        return {r._key for r in lookups.key_created_at.collect()} if lookups.key_created_at is not None else set()

    def keys_once_read(expected: set[str]) -> set[str]:
        deadline = time.monotonic() + 120
        while (found := keys()) != expected and time.monotonic() < deadline:
            time.sleep(0.2)
        return found

    assert keys() == set()  # no tables yet: every payment gets an unknown key age
    add_key("k1")
    now[0] = 59.0
    assert keys() == set()  # still the lookups read at 0 s
    now[0] = 60.0
    assert keys() == set()  # the new read has only started: the batch goes on with the held lookups
    assert keys_once_read({"k1"}) == {"k1"}
    held = reference.lookups(spark)
    assert held.key_created_at.is_cached and held.first_marks is None

    add_key("k2")
    now[0] = 119.0
    assert keys() == {"k1"}  # the held lookups, not the table as it is now
    now[0] = 120.0
    assert keys_once_read({"k1", "k2"}) == {"k1", "k2"}
    assert not held.key_created_at.is_cached  # the replaced lookups are released


def test_a_replay_reads_the_versions_its_plan_recorded_and_falls_back_when_they_are_gone(spark, bundle) -> None:  # noqa: ANN001
    run = uuid.uuid4().hex[:8]
    tables = Tables(key_registry=f"keys_{run}", dict_marks=f"marks_{run}")
    reference = ReferenceTables(bundle, tables, refresh_s=3600)

    def add_key(key: str) -> None:
        spark.createDataFrame([(key, CREATED)], "key string, created_at timestamp").write.format("delta").mode(
            "append"
        ).save(bundle.target.table_path(tables.key_registry))

    def keys_of(lookups) -> set[str]:  # noqa: ANN001
        return {r._key for r in lookups.key_created_at.collect()} if lookups.key_created_at is not None else set()

    add_key("k1")
    add_key("k2")
    current = reference.lookups(spark)
    assert current.versions == {tables.key_registry: 1, tables.dict_marks: None}
    assert reference.lookups_as_of(spark, current.versions, current) is current  # no replay: nothing read again

    first_version = reference.lookups_as_of(spark, {tables.key_registry: 0, tables.dict_marks: None}, current)
    assert keys_of(first_version) == {"k1"} and first_version.versions[tables.key_registry] == 0
    before_the_registry = reference.lookups_as_of(spark, {tables.key_registry: None, tables.dict_marks: None}, current)
    assert before_the_registry.key_created_at is None

    unreadable = reference.lookups_as_of(spark, {tables.key_registry: 7, tables.dict_marks: None}, current)
    assert unreadable is current and keys_of(unreadable) == {"k1", "k2"}

    assert first_version.key_created_at.is_cached
    reference.release_replayed()
    assert not first_version.key_created_at.is_cached and current.key_created_at.is_cached
