"""`pixguard up` starts the real services; `pixguard down` leaves no process of the project."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration


def pixguard(args: list[str], env: dict[str, str], timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pixguard.cli", *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environ = (entry / "environ").read_bytes().decode(errors="replace")
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:
                continue
            if state != "Z" and (text in cmdline or text in environ):
                found.append(f"{entry.name}: {cmdline[:120]}")
    return found


def test_up_is_idempotent_and_down_stops_every_process(tmp_path: Path, project_root: Path) -> None:
    from pixguard.stack.processes import free_port

    home = tmp_path / "stack-home"
    env = {
        **os.environ,
        "PIXGUARD_PROJECT_ROOT": str(project_root),
        "PIXGUARD_HOME": str(home),
        "PIXGUARD_KAFKA_PORT": str(free_port()),
        "PIXGUARD_KAFKA_CONTROLLER_PORT": str(free_port()),
        "PIXGUARD_MLFLOW_PORT": str(free_port()),
        "PIXGUARD_AIRFLOW_PORT": str(free_port()),
    }
    try:
        started = pixguard(["up"], env)
        assert started.returncode == 0, started.stdout + started.stderr
        for service in ("kafka", "mlflow", "airflow"):
            assert f"{service}" in started.stdout and "ready" in started.stdout
        status = pixguard(["status"], env)
        assert status.returncode == 0, status.stdout
        assert status.stdout.count(" ready ") == 3
        airflow = requests.get(f"http://127.0.0.1:{env['PIXGUARD_AIRFLOW_PORT']}/api/v2/monitor/health", timeout=5)
        assert airflow.json()["scheduler"]["status"] == "healthy"
        assert requests.get(f"http://127.0.0.1:{env['PIXGUARD_MLFLOW_PORT']}/health", timeout=5).ok
        pids = {p.stem: p.read_text() for p in (home / "run").glob("*.pid")}

        again = pixguard(["up"], env)  # idempotent: same processes, nothing new started
        assert again.returncode == 0
        assert {p.stem: p.read_text() for p in (home / "run").glob("*.pid")} == pids
        assert processes_mentioning(str(home)), "the services should be running now"
    finally:
        stopped = pixguard(["down"], env)
    assert stopped.returncode == 0, stopped.stderr
    assert "airflow" in stopped.stdout and "kafka" in stopped.stdout and "mlflow" in stopped.stdout
    assert processes_mentioning(str(home)) == []
    final = pixguard(["status"], env)
    assert final.returncode == 3 and final.stdout.count("stopped") == 3
