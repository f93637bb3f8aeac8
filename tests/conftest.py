"""Shared fixtures. Real services start once per test session, on free ports, with their state in
a temporary folder; downloaded jars come from the project's cache (.pixguard/cache)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pixguard.config import Bundle, StreamingConfig, TopicSettings, load_bundle, load_streaming_config
from pixguard.stack.processes import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the session's SparkSession, directly or through another fixture, is marked
    `spark`: starting it resolves the Maven connectors and loads the feature jar, so `make test-unit`
    (`-m "not spark"`) leaves those tests out and runs the pure ones in a minute or two."""
    for item in items:
        if "spark" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.spark)


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def stack_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Environment of the test stack: its own state folder and free ports, never the user's stack."""
    env = {
        "PIXGUARD_PROJECT_ROOT": str(PROJECT_ROOT),
        "PIXGUARD_HOME": str(tmp_path_factory.mktemp("pixguard-home")),
        "PIXGUARD_TARGET": "local",
        "PIXGUARD_KAFKA_PORT": str(free_port()),
        "PIXGUARD_KAFKA_CONTROLLER_PORT": str(free_port()),
        "PIXGUARD_MLFLOW_PORT": str(free_port()),
        "PIXGUARD_AIRFLOW_PORT": str(free_port()),
    }
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    yield env
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def bundle(stack_env: dict[str, str]) -> Bundle:
    return load_bundle(PROJECT_ROOT)


@pytest.fixture(scope="session")
def streaming_config(bundle: Bundle) -> StreamingConfig:
    return load_streaming_config(bundle.project_root)


@pytest.fixture(scope="session")
def kafka_broker(bundle: Bundle):
    from pixguard.stack.kafka import KafkaBroker

    settings = bundle.target.kafka
    broker = KafkaBroker(bundle.state_dir, bundle.cache_dir, settings.broker_port, settings.controller_port, 512)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture(scope="session")
def mlflow_server(bundle: Bundle):
    from pixguard.stack.mlflow_server import MlflowServer

    server = MlflowServer(bundle.state_dir, bundle.target.mlflow.port)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark(bundle: Bundle):
    from pixguard.infra.spark import build_spark_session

    session = build_spark_session(bundle, "streaming", app_name="pixguard-tests")
    yield session
    session.stop()


@pytest.fixture
def fresh_topic(bundle: Bundle, kafka_broker) -> TopicSettings:  # noqa: ANN001
    """A new topic per test, so tests never see each other's messages."""
    from pixguard.infra.kafka_topics import ensure_topics

    topic = TopicSettings(name=f"test.{uuid.uuid4().hex[:12]}", partitions=2)
    ensure_topics(bundle.target.kafka, [topic])
    return topic


@pytest.fixture
def isolated(bundle: Bundle, streaming_config: StreamingConfig, kafka_broker, tmp_path: Path):  # noqa: ANN001, ANN201
    """A bundle and config of their own: fresh topics, tables and checkpoints under tmp_path, and a
    registered model name of their own (the session's MLflow server is shared: a DAG run test may have
    made a `pix-fraud` champion)."""
    from pixguard.infra.kafka_topics import ensure_topics

    suffix = uuid.uuid4().hex[:8]
    renamed = {
        topic_id: topic.model_copy(update={"name": f"{topic.name}.{suffix}"})
        for topic_id in type(streaming_config.topics).model_fields
        for topic in [getattr(streaming_config.topics, topic_id)]
    }
    config = streaming_config.model_copy(update={"topics": streaming_config.topics.model_copy(update=renamed)})
    target = bundle.target.model_copy(
        update={
            "storage_root": str(tmp_path / "data"),
            "checkpoint_root": str(tmp_path / "checkpoints"),
            "mlflow": bundle.target.mlflow.model_copy(
                update={"registered_model": f"{bundle.target.mlflow.registered_model}-{suffix}"}
            ),
        }
    )
    ensure_topics(bundle.target.kafka, config.topics.all())
    return bundle.model_copy(update={"target": target}), config
