"""`pixguard up / down / status` for targets whose services are embedded (target `local`)."""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from typing import Protocol

from pixguard.config import Bundle, StreamingConfig
from pixguard.infra.kafka_topics import ensure_topics
from pixguard.stack.airflow_server import AirflowServer
from pixguard.stack.kafka import KafkaBroker
from pixguard.stack.mlflow_server import MlflowServer
from pixguard.stack.processes import ManagedProcess

log = logging.getLogger("pixguard.stack")

# What a first start waits for, said before it waits.
FIRST_START_NOTE = {
    "kafka": "the first start resolves the broker's jars from Maven Central",
    "mlflow": "tracking server and registry",
    "airflow": "scheduler, DAG processor and API server: about half a minute",
}


class UnknownService(ValueError):
    """`only` names a part the target does not run."""


class Service(Protocol):
    @property
    def process(self) -> ManagedProcess: ...

    def start(self, timeout_s: float = ...) -> None: ...

    def stop(self) -> bool: ...

    def is_ready(self) -> bool: ...


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    running: bool
    ready: bool
    pid: int | None
    url: str
    log: str


def services(bundle: Bundle) -> dict[str, tuple[Service, str]]:
    """The embedded services of the target, in start order, with the address each serves."""
    target, home = bundle.target, bundle.state_dir
    found: dict[str, tuple[Service, str]] = {}
    if target.kafka.embedded:
        kafka = target.kafka
        broker = KafkaBroker(home, bundle.cache_dir, kafka.broker_port, kafka.controller_port, kafka.heap_mb)
        found["kafka"] = (broker, broker.bootstrap_servers)
    if target.mlflow.embedded:
        mlflow = MlflowServer(home, target.mlflow.port)
        found["mlflow"] = (mlflow, mlflow.tracking_uri)
    if target.airflow.embedded:
        airflow = AirflowServer(bundle)
        found["airflow"] = (airflow, airflow.url)
    return found


def up(bundle: Bundle, config: StreamingConfig, only: list[str] | None = None) -> list[ServiceStatus]:
    """Start what is not running yet (idempotent) and create the configured topics. `only`: a subset of
    the target's embedded services; a name that is not one of them is refused before anything starts."""
    embedded = services(bundle)
    if only is not None:
        unknown = [name for name in only if name not in embedded]
        if unknown:
            raise UnknownService(
                f"unknown part {', '.join(map(repr, unknown))}: target '{bundle.target.name}' "
                f"runs {', '.join(embedded) or 'no embedded service'}"
            )
    for name, (service, url) in embedded.items():
        if only is not None and name not in only:
            continue
        if service.process.is_running():
            log.info("%s: already running (%s)", name, url)
            continue
        log.info("%s: starting (%s)", name, FIRST_START_NOTE[name])
        service.start()
        log.info("%s: ready on %s", name, url)
    if bundle.target.kafka.embedded and (only is None or "kafka" in only):
        ensure_topics(bundle.target.kafka, config.topics.all())
        log.info("kafka: topics %s", ", ".join(t.name for t in config.topics.all()))
    return status(bundle)


def down(bundle: Bundle, purge: bool = False) -> list[str]:
    """Stop, in reverse start order, every process this project recorded; `purge` removes the state
    folder (all data, checkpoints, registry) but keeps the download cache."""
    stopped = [name for name, (service, _) in reversed(services(bundle).items()) if service.stop()]
    if purge and bundle.state_dir.exists():
        for entry in bundle.state_dir.iterdir():
            if entry.resolve() == bundle.cache_dir:
                continue
            shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    return stopped


def status(bundle: Bundle) -> list[ServiceStatus]:
    result = []
    for name, (service, url) in services(bundle).items():
        pid = service.process.pid()
        ready = False
        if pid is not None:
            try:
                ready = service.is_ready()
            except Exception:  # noqa: BLE001 - a failing probe means "not ready"
                ready = False
        result.append(ServiceStatus(name, pid is not None, ready, pid, url, str(service.process.log_file)))
    return result
