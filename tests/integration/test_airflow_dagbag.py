"""Airflow parses dags/ with the project's environment and finds no import errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pixguard.stack.airflow_server import airflow_env, prepare_home

pytestmark = pytest.mark.integration

DAGBAG_PROBE = """
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag()
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dag_ids)}))
"""


def test_dagbag_loads_the_dags_folder_without_import_errors(bundle) -> None:  # noqa: ANN001
    prepare_home(bundle)
    result = subprocess.run(
        [sys.executable, "-c", DAGBAG_PROBE], env={**airflow_env(bundle)}, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert report["dags"], "no DAG found in dags/"
