"""Running the session's Airflow from tests (its home and DB come from the session's bundle)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from pixguard.config import Bundle
from pixguard.stack.airflow_server import airflow_env


def airflow_env_for(bundle: Bundle, home: Path) -> dict[str, str]:
    """The session's Airflow (home, DB, connection) with a PIXGUARD_HOME of the test's own."""
    return {**os.environ, **airflow_env(bundle), "PIXGUARD_HOME": str(home)}


def airflow(bundle: Bundle, home: Path, *args: str, timeout_s: float = 900) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "airflow"), *args]
    return subprocess.run(command, env=airflow_env_for(bundle, home), capture_output=True, text=True, timeout=timeout_s)
