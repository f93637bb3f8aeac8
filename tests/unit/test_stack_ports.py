"""A service of the local stack refuses to start on a port another process answers on: its readiness
probe would take that process for the service (a stack started from another state folder)."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest

from pixguard.stack.mlflow_server import MlflowServer
from pixguard.stack.processes import ManagedProcess, ServiceError, free_port


def test_a_port_another_process_listens_on_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        server = MlflowServer(tmp_path, port=taken)
        with pytest.raises(ServiceError, match=rf"mlflow: port {taken} is in use .*PIXGUARD_\*_PORT"):
            server.start(timeout_s=5)
    assert not server.process.is_running() and not server.process.pid_file.exists()


def test_a_free_port_lets_the_service_start(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", tmp_path / "run")
    pid = process.start([sys.executable, "-c", "import time; time.sleep(30)"], ports=(free_port(),))
    try:
        assert process.is_running() and process.pid() == pid
    finally:
        process.stop(timeout_s=10)
