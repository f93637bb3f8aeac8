"""Topic administration, for any target: the embedded broker and real clusters alike."""

from __future__ import annotations

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from pixguard.config import KafkaSettings, TopicSettings


def ensure_topics(kafka: KafkaSettings, topics: list[TopicSettings], timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created."""
    admin = AdminClient(kafka.client_config())
    existing = set(admin.list_topics(timeout=timeout_s).topics)
    wanted = [
        NewTopic(t.name, num_partitions=t.partitions, replication_factor=1 if _single_node(admin) else -1,
                 config={"retention.ms": str(t.retention_ms)})
        for t in topics
        if t.name not in existing
    ]  # fmt: skip
    if not wanted:
        return []
    created = []
    for name, future in admin.create_topics(wanted, operation_timeout=timeout_s).items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                raise
    return created


def _single_node(admin: AdminClient) -> bool:
    # A replication factor above the broker count fails; -1 takes the cluster's default.
    return len(admin.list_topics(timeout=10).brokers) == 1


def is_reachable(kafka: KafkaSettings, timeout_s: float = 2.0) -> bool:
    try:
        AdminClient(kafka.client_config()).list_topics(timeout=timeout_s)
        return True
    except KafkaException:
        return False
