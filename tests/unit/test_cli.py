"""The console script as a user runs it: its usage errors, its version, its logging."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PIXGUARD = Path(sys.executable).parent / "pixguard"


def run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PIXGUARD_HOME": str(home)}
    return subprocess.run([str(PIXGUARD), *args], env=env, capture_output=True, text=True, timeout=120)


def test_up_refuses_an_unknown_part_and_starts_nothing(tmp_path: Path) -> None:
    result = run(["up", "--only", "kafka,kafak"], tmp_path)
    assert result.returncode == 2
    assert "pixguard up: unknown part 'kafak': target 'local' runs kafka, mlflow, airflow" in result.stderr
    assert not list(tmp_path.rglob("*.pid")), "a named part was started although the list was refused"


def test_version_names_the_installed_package(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = run(["--version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.strip() == f"pixguard {version('pixguard')}"


def test_help_documents_every_exit_code(tmp_path: Path) -> None:
    result = run(["--help"], tmp_path)
    codes = [line.split()[0] for line in result.stdout.split("exit codes:")[1].splitlines() if line[:3].strip()]
    assert codes == ["0", "1", "2", "3"]


def test_pixguard_messages_show_at_info_and_libraries_stay_quiet() -> None:
    script = """
import logging
from pixguard.log_setup import configure_logging
configure_logging()
configure_logging()
logging.getLogger("pixguard.stream").info("batch decided")
logging.getLogger("some.library").info("library chatter")
logging.getLogger("py4j.clientserver").error("Closing down clientserver connection")
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, "one handler, even when set up twice; library INFO and py4j noise held back"
    assert lines[0].endswith("INFO pixguard.stream: batch decided")
