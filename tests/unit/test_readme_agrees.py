"""README and the code name the same things: every topic, query and bundle job a user configures or
sees is in the README's tables, and every job the README names exists."""

from __future__ import annotations

import re
from pathlib import Path

from pixguard.config import load_bundle, load_streaming_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]
README = (PROJECT_ROOT / "README.md").read_text()


def table_rows(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("| `")]


def test_every_configured_topic_has_a_row_with_its_name() -> None:
    config = load_streaming_config(PROJECT_ROOT)
    rows = table_rows(README)
    for topic_id in type(config.topics).model_fields:
        name = getattr(config.topics, topic_id).name
        assert any(row.startswith(f"| `{topic_id}`: `{name}`") for row in rows), f"topics.{topic_id} ({name})"


def test_every_query_of_the_job_has_a_row() -> None:
    from pixguard.stream import archive, hot_path, ingest

    queries = {hot_path.HOT_PATH_QUERY, archive.DECISIONS_ARCHIVE_QUERY, archive.QUARANTINE_ARCHIVE_QUERY}
    queries |= {archive.LABELS_QUERY, archive.DICT_KEYS_QUERY, archive.DICT_MARKS_QUERY, ingest.RAW_INGEST_QUERY}
    first_cells = " ".join(row.split("|")[1] for row in table_rows(README))
    assert {q for q in queries if f"`{q}`" not in first_cells} == set()


def test_the_bundle_jobs_the_readme_names_are_the_bundles() -> None:
    bundle = load_bundle(PROJECT_ROOT)
    named = re.search(r"`bundle.yaml` jobs (.*?) \(DAGs", README)
    assert named, "the Airflow section names the bundle jobs"
    assert set(re.findall(r"`(\w+)`", named.group(1))) == set(bundle.jobs)
    for job in bundle.jobs:
        assert (PROJECT_ROOT / "dags" / f"pix_{job}.py").is_file(), f"DAG pix_{job} for the bundle job {job}"
