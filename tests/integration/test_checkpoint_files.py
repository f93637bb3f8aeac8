"""pixguard's files inside a checkpoint, through Hadoop's FileSystem (a path or a URI alike)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.stream import checkpoint_files
from pixguard.stream.job import pinned_history_version

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
