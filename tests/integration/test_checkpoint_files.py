"""pixguard's files inside a checkpoint, through Hadoop's FileSystem (a path or a URI alike)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.stream import checkpoint_files
from pixguard.stream.job import HISTORY_PIN, decided_history, pinned_history_version

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("as_uri", [False, True])
def test_read_write_and_delete(spark, tmp_path: Path, as_uri: bool) -> None:  # noqa: ANN001
    folder = tmp_path.as_uri() if as_uri else str(tmp_path)
    path = f"{folder}/checkpoint/plans/7.json"
    assert checkpoint_files.read_text(spark, path) is None
    checkpoint_files.write_text(spark, path, '{"batch_id": 7, "note": "ação"}')
    assert checkpoint_files.read_text(spark, path) == '{"batch_id": 7, "note": "ação"}'
    assert (tmp_path / "checkpoint" / "plans" / "7.json").read_text() == '{"batch_id": 7, "note": "ação"}'
    checkpoint_files.write_text(spark, path, "replaced")
    assert checkpoint_files.read_text(spark, path) == "replaced"
    with pytest.raises(FileExistsError):
        checkpoint_files.write_text(spark, path, "once only", overwrite=False)
    assert checkpoint_files.read_text(spark, path) == "replaced"
    assert [p.name for p in (tmp_path / "checkpoint" / "plans").iterdir() if not p.name.startswith(".")] == [
        "7.json"
    ]  # no partial file left beside it
    checkpoint_files.delete(spark, f"{folder}/checkpoint", recursive=True)
    assert not (tmp_path / "checkpoint").exists()


def test_the_history_pin_is_written_once_and_read_back(spark, tmp_path: Path) -> None:  # noqa: ANN001
    checkpoint, decisions = str(tmp_path / "checkpoint"), str(tmp_path / "decisions")
    assert pinned_history_version(spark, checkpoint, decisions) is None  # no table yet: nothing to seed from
    spark.range(3).write.format("delta").save(decisions)
    assert pinned_history_version(spark, checkpoint, decisions) is None  # pinned when the checkpoint was new

    other_checkpoint = str(tmp_path / "other")
    assert pinned_history_version(spark, other_checkpoint, decisions) == 0
    spark.range(3).write.format("delta").mode("append").save(decisions)
    assert pinned_history_version(spark, other_checkpoint, decisions) == 0
    assert pinned_history_version(spark, str(tmp_path / "third"), decisions) == 1


def test_a_query_past_its_first_batch_reads_no_history_so_a_pinned_version_gone_from_the_log_is_no_matter(
    spark,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    from pyspark.sql import functions as F

    from pixguard.schema import transaction_schema

    checkpoint, decisions = str(tmp_path / "checkpoint"), str(tmp_path / "decisions")
    payments = spark.createDataFrame([], transaction_schema()).unionByName(
        spark.range(2).select(
            F.concat(F.lit("E"), F.col("id").cast("string")).alias("end_to_end_id"),
            F.current_timestamp().alias("event_time"),
        ),
        allowMissingColumns=True,
    )
    payments.write.format("delta").save(decisions)
    assert decided_history(spark, checkpoint, decisions).count() == 2  # a new query: version 0 as its past

    # Delta's log cleanup took the pinned version away (delta.logRetentionDuration): as good as a
    # pin of a version the log never had.
    checkpoint_files.write_text(spark, f"{checkpoint}/{HISTORY_PIN}", '{"version": 41}')
    with pytest.raises(Exception, match="41"):  # the first batch cannot seed from it ...
        decided_history(spark, checkpoint, decisions).count()
    checkpoint_files.write_text(spark, f"{checkpoint}/commits/.0.crc", "")
    assert not checkpoint_files.has_files(spark, f"{checkpoint}/commits")
    checkpoint_files.write_text(spark, f"{checkpoint}/commits/0", "v1\n{}")
    history = decided_history(spark, checkpoint, decisions)  # ... a query past it needs none
    assert history.count() == 0 and history.columns == [f.name for f in transaction_schema().fields]
