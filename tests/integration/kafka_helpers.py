"""Reading back what the job published, with a real consumer."""

from __future__ import annotations

import json
import time

from confluent_kafka import Consumer, TopicPartition

from pixguard.config import KafkaSettings


def read_topic(kafka: KafkaSettings, topic: str, timeout_s: float = 20.0) -> list[tuple[str | None, dict]]:
    """Every record of `topic` from the beginning, as (key, decoded JSON value)."""
    consumer = Consumer({**kafka.client_config(), "group.id": f"reader-{time.time_ns()}", "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions = [TopicPartition(topic, p, 0) for p in metadata.partitions]
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout=10)[1] for p in partitions}
        consumer.assign(partitions)
        records, deadline = [], time.monotonic() + timeout_s
        positions = dict.fromkeys(ends, 0)
        while any(positions[p] < ends[p] for p in ends) and time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None or message.error():
                continue
            positions[message.partition()] = message.offset() + 1
            key = message.key().decode() if message.key() else None
            records.append((key, json.loads(message.value())))
        return records
    finally:
        consumer.close()
