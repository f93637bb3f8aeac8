"""pixguard's files inside a checkpoint, through Hadoop's FileSystem (a path or a URI alike), and the
seed copy a new hot path starts from."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.stream import checkpoint_files
from pixguard.stream.seed import SEED_FOLDER, hot_path_seeds

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


def test_local_files_get_the_mode_asked_for_from_the_forkless_file_system(spark, tmp_path: Path) -> None:  # noqa: ANN001
    """The local target's `file:` file system (pixguard.storage.ForklessLocalFileSystem) sets modes
    by java.nio, not by a `chmod` child process, and still sets them."""
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(str(tmp_path / "state" / "1.changelog"))
    fs = path.getFileSystem(spark._jsc.hadoopConfiguration())
    assert fs.getClass().getName() == "pixguard.storage.ForklessLocalFileSystem"
    permission = jvm.org.apache.hadoop.fs.permission.FsPermission
    assert fs.mkdirs(path.getParent(), permission("750"))
    assert (tmp_path / "state").stat().st_mode & 0o777 == 0o750
    out = fs.create(path)  # Hadoop's default file mode, less its umask (022)
    out.write(bytearray(b"v1"))
    out.close()
    assert (tmp_path / "state" / "1.changelog").read_bytes() == b"v1"
    assert (tmp_path / "state" / "1.changelog").stat().st_mode & 0o777 == 0o644
    fs.setPermission(path, permission("640"))
    assert (tmp_path / "state" / "1.changelog").stat().st_mode & 0o777 == 0o640


def test_a_new_hot_path_seeds_from_a_copy_of_the_archive_made_once_and_dropped_after_its_first_commit(
    spark,  # noqa: ANN001
    isolated,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """A first batch replayed after a crash must start from the past its first attempt started from,
    not from an archive that has meanwhile taken in that batch's own decisions."""
    from pyspark.sql import functions as F

    from pixguard.domain.schema import transaction_schema

    bundle, config = isolated
    decisions = bundle.target.table_path(config.tables.decisions)

    def archive(ids: list[str]) -> None:
        rows = spark.createDataFrame([], transaction_schema()).unionByName(
            spark.createDataFrame([(i,) for i in ids], "end_to_end_id string").select(
                "end_to_end_id", F.current_timestamp().alias("event_time")
            ),
            allowMissingColumns=True,
        )
        rows.write.format("delta").mode("append").save(decisions)

    checkpoint = str(tmp_path / "hot_path")
    archive(["E1", "E2"])
    first = hot_path_seeds(spark, bundle, config, checkpoint)
    assert sorted(r.end_to_end_id for r in first.payments.collect()) == ["E1", "E2"]
    assert first.key_registry.count() == 0 and first.dict_marks.count() == 0  # no DICT mirror yet

    archive(["E3"])  # the first attempt's decisions reached the archive, its commit did not
    replay = hot_path_seeds(spark, bundle, config, checkpoint)
    assert sorted(r.end_to_end_id for r in replay.payments.collect()) == ["E1", "E2"]
    assert "Delta" not in replay.payments._jdf.queryExecution().analyzed().toString()

    checkpoint_files.write_text(spark, f"{checkpoint}/commits/0", "v1\n{}")
    resumed = hot_path_seeds(spark, bundle, config, checkpoint)
    assert resumed.payments.count() == 0 and resumed.payments.columns == first.payments.columns
    assert not (tmp_path / "hot_path" / SEED_FOLDER).exists()
