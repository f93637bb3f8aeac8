"""Background processes started by pixguard, tracked by pid file so that `down` stops exactly them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil


class ServiceError(RuntimeError):
    """A service did not start or stop as expected; the message says where its log is."""


def _created_at(pid: int) -> float | None:
    """When the process started: with the pid it identifies a process even if the pid is reused."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _alive(pid: int, created_at: float | None) -> bool:
    """Running (not a zombie), and the process recorded, where the record says when it started
    (a pid file of an earlier pixguard has no such field)."""
    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and created_at in (None, process.create_time())
    except psutil.Error:
        return False


@dataclass(frozen=True)
class ManagedProcess:
    """One named background process: its pid file and log live under `run_dir`."""

    name: str
    run_dir: Path

    @property
    def pid_file(self) -> Path:
        return self.run_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    def recorded(self) -> tuple[int, float | None] | None:
        try:
            data = json.loads(self.pid_file.read_text())
            return int(data["pid"]), data.get("created_at")
        except (OSError, ValueError, KeyError):
            return None

    def pid(self) -> int | None:
        record = self.recorded()
        if record and _alive(*record):
            return record[0]
        return None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(
        self,
        command: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        ports: Sequence[int] = (),
    ) -> int:
        """Start the command unless this service runs already. `ports`: where it will listen; one
        that answers already belongs to another process (say, the stack of another state folder),
        and the readiness probe would take that process for this one."""
        if (pid := self.pid()) is not None:
            return pid
        taken = [port for port in ports if port_in_use(port)]
        if taken:
            raise ServiceError(
                f"{self.name}: {'ports' if len(taken) > 1 else 'port'} {', '.join(map(str, taken))} "
                f"{'are' if len(taken) > 1 else 'is'} in use by a process this state folder "
                f"({self.run_dir.parent}) did not start. Stop it (`pixguard down` with the PIXGUARD_HOME "
                "that started it) or move this stack with the PIXGUARD_*_PORT variables"
            )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            log.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(command)}\n".encode())
            log.flush()
            # A new session makes the process the leader of its own group, so stop() can signal
            # every child it spawns (Airflow standalone runs several) and nothing else.
            process = subprocess.Popen(
                list(command),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(json.dumps({"pid": process.pid, "created_at": _created_at(process.pid)}))
        return process.pid

    def wait_until(self, ready: Callable[[], bool], timeout_s: float, what: str) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.is_running():
                raise ServiceError(f"{self.name} exited while starting; see {self.log_file}:\n{self.tail()}")
            try:
                if ready():
                    return
            except Exception:  # noqa: BLE001 - any failure of a probe means "not ready yet"
                pass
            time.sleep(0.5)
        raise ServiceError(f"{self.name}: {what} not ready after {timeout_s:.0f}s; see {self.log_file}:\n{self.tail()}")

    def stop(self, timeout_s: float = 30.0) -> bool:
        """SIGTERM the process group, SIGKILL what is left after the timeout. True if something was stopped."""
        record = self.recorded()
        if record is None:
            return False
        pid, created_at = record
        stopped = False
        # A dead leader can leave its group behind (the Python driver of a killed JVM): signal the
        # group all the same. The kernel gives no new process a pid still in use as a group id, so
        # the members are ours, unless the pid itself was reused by another process since.
        leader_created_at = _created_at(pid)
        ours = leader_created_at is None or created_at is None or leader_created_at == created_at
        if ours and _group_alive(pid):
            stopped = True
            self._signal_group(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline and _group_alive(pid):
                time.sleep(0.2)
            if _group_alive(pid):
                self._signal_group(pid, signal.SIGKILL)
                time.sleep(0.5)
        self.pid_file.unlink(missing_ok=True)
        return stopped

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def group_members(pgid: int) -> list[int]:
    """Live, non-zombie processes of a process group."""
    members = []
    for process in psutil.process_iter():
        try:
            if os.getpgid(process.pid) == pgid and process.status() != psutil.STATUS_ZOMBIE:
                members.append(process.pid)
        except (psutil.Error, OSError):  # gone meanwhile
            continue
    return members


def _group_alive(pgid: int) -> bool:
    return bool(group_members(pgid))


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
