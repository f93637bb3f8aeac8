"""A real Apache Kafka broker: one KRaft node (broker + controller), jars from Maven Central."""

from __future__ import annotations

import base64
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from pixguard.stack.jars import MavenArtifact, resolve_jars
from pixguard.stack.processes import ManagedProcess, ServiceError

KAFKA_VERSION = "4.3.1"
LOG4J_VERSION = "2.25.4"
BROKER_ARTIFACTS = [
    MavenArtifact("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
    # Kafka 4 logs through log4j2; the broker artifact leaves the binding to the distribution.
    MavenArtifact("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
    MavenArtifact("org.apache.logging.log4j", "log4j-slf4j2-impl", LOG4J_VERSION),
]

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.server.name = kafka.server.KafkaRaftServer
logger.server.level = INFO
"""


@dataclass(frozen=True)
class KafkaBroker:
    """Config, log dir, pid file and log live under `home`; the downloaded jars under `cache`."""

    home: Path
    cache: Path
    broker_port: int = 9092
    controller_port: int = 9093
    heap_mb: int = 1024
    host: str = "127.0.0.1"

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.broker_port}"

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess("kafka", self.home / "run")

    @property
    def _config_file(self) -> Path:
        return self.home / "kafka" / "server.properties"

    @property
    def _log_dir(self) -> Path:
        return self.home / "kafka" / "data"

    def jars(self) -> list[Path]:
        return resolve_jars(
            BROKER_ARTIFACTS, self._jar_dir, self.cache / "ivy" / "cache"
        )  # the Ivy cache Spark uses too

    @property
    def _jar_dir(self) -> Path:
        return self.cache / "jars" / f"kafka-{KAFKA_VERSION}"

    def _java(self, main_class: str, *args: str) -> list[str]:
        return [
            "java", f"-Xms{self.heap_mb}m", f"-Xmx{self.heap_mb}m", "-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={self.home / 'kafka' / 'log4j2.properties'}",
            "-cp", f"{self._jar_dir}/*", main_class, *args,
        ]  # fmt: skip

    def _write_config(self) -> None:
        self._config_file.parent.mkdir(parents=True, exist_ok=True)
        controller = f"{self.host}:{self.controller_port}"
        properties = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": controller,
            "listeners": f"PLAINTEXT://{self.bootstrap_servers},CONTROLLER://{controller}",
            "advertised.listeners": f"PLAINTEXT://{self.bootstrap_servers},CONTROLLER://{controller}",
            "controller.listener.names": "CONTROLLER",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            "log.dirs": str(self._log_dir),
            "num.partitions": "1",
            # One node: every internal topic has exactly one replica.
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "group.initial.rebalance.delay.ms": "0",
            # Topics come from config with their partitions and retention, never by accident.
            "auto.create.topics.enable": "false",
        }
        self._config_file.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
        (self.home / "kafka" / "log4j2.properties").write_text(_LOG4J2)

    def _format_storage(self) -> None:
        if (self._log_dir / "meta.properties").is_file():
            return
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # `--cluster-id=` form: a base64 id may start with "-", which would read as an option.
        command = self._java(
            "kafka.tools.StorageTool",
            "format",
            "--standalone",
            f"--cluster-id={cluster_id}",
            "-c",
            str(self._config_file),
        )
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise ServiceError(f"formatting the Kafka log dir failed:\n{result.stdout}{result.stderr}")

    def start(self, timeout_s: float = 90.0) -> None:
        if self.process.is_running():
            return
        self.jars()
        self._write_config()
        self._format_storage()
        self.process.start(
            self._java("kafka.Kafka", str(self._config_file)), ports=(self.broker_port, self.controller_port)
        )
        self.process.wait_until(self.is_ready, timeout_s, f"broker on {self.bootstrap_servers}")

    def is_ready(self) -> bool:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        try:
            metadata = AdminClient({"bootstrap.servers": self.bootstrap_servers, "log_level": 0}).list_topics(timeout=2)
        except KafkaException:
            return False
        return bool(metadata.brokers)

    def stop(self) -> bool:
        return self.process.stop(timeout_s=30)
