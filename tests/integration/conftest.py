"""Fixtures shared by the integration tests (the services themselves are in tests/conftest.py)."""

from __future__ import annotations

import pytest

from pixguard.config import Bundle
from pixguard.stack.airflow_server import prepare_home
from tests.integration.airflow_helpers import airflow


@pytest.fixture(scope="module")
def airflow_db(bundle: Bundle) -> Bundle:
    """The session's Airflow home with its metadata DB migrated (`airflow dags test` needs it)."""
    prepare_home(bundle)
    result = airflow(bundle, bundle.state_dir, "db", "migrate", timeout_s=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return bundle
