"""Publishing to Kafka with delivery confirmation: a count returned is a count the broker acknowledged."""

from __future__ import annotations

from collections.abc import Iterable

from confluent_kafka import Producer

from pixguard.config import KafkaSettings


class PublishError(RuntimeError):
    pass


def make_producer(kafka: KafkaSettings, **overrides: str) -> Producer:
    conf = {
        **kafka.client_config(),
        "enable.idempotence": "true",  # retries never duplicate a record in the log
        "linger.ms": "20",
        "batch.num.messages": "10000",
        "compression.type": "lz4",
        "queue.buffering.max.messages": "500000",
        **overrides,
    }
    return Producer(conf)


def publish(
    producer: Producer, topic: str, records: Iterable[tuple[bytes | None, bytes]], timeout_s: float = 60
) -> int:
    """Send (key, value) pairs; wait for every acknowledgement; raise if any record failed."""
    failures: list[str] = []
    delivered = 0

    def on_delivery(err, _msg) -> None:  # noqa: ANN001 - librdkafka callback signature
        nonlocal delivered
        if err is None:
            delivered += 1
        else:
            failures.append(str(err))

    for key, value in records:
        while True:
            try:
                producer.produce(topic, value=value, key=key, on_delivery=on_delivery)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry this record
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(timeout_s)
    if failures or remaining:
        raise PublishError(f"{len(failures)} record(s) failed, {remaining} unacknowledged: {failures[:3]}")
    return delivered
