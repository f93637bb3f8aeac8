"""A real MLflow tracking server with its model registry: SQLite backend, local artifact store
served through the server (clients upload over HTTP, as they would to a remote server)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import requests

from pixguard.stack.processes import ManagedProcess


@dataclass(frozen=True)
class MlflowServer:
    home: Path
    port: int = 5000
    host: str = "127.0.0.1"

    @property
    def tracking_uri(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess("mlflow", self.home / "run")

    def start(self, timeout_s: float = 90.0) -> None:
        if self.process.is_running():
            return
        store = self.home / "mlflow"
        (store / "artifacts").mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", f"sqlite:///{store / 'mlflow.db'}",
            "--artifacts-destination", str(store / "artifacts"),
            "--host", self.host, "--port", str(self.port), "--workers", "1",
        ]  # fmt: skip
        # MLflow 3 also starts a pool of job consumers (for its GenAI features) with the server:
        # about 8 processes and 2 GB that a fraud model registry never uses.
        env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process.start(command, env=env, cwd=store, ports=(self.port,))
        self.process.wait_until(self.is_ready, timeout_s, f"tracking server on {self.tracking_uri}")

    def is_ready(self) -> bool:
        return requests.get(f"{self.tracking_uri}/health", timeout=2).status_code == 200

    def stop(self) -> bool:
        return self.process.stop(timeout_s=20)
