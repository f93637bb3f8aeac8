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


class AckedSender:
    """Sends (key, value) records as fast as the local queue takes them and counts acknowledgements;
    `finish()` waits for the rest and raises if any record was refused."""

    def __init__(self, producer: Producer, topic: str) -> None:
        self.producer, self.topic = producer, topic
        self.delivered = 0
        self.failures: list[str] = []

    def _on_delivery(self, err, _msg) -> None:  # noqa: ANN001 - librdkafka callback signature
        if err is None:
            self.delivered += 1
        else:
            self.failures.append(str(err))

    def send(self, records: Iterable[tuple[bytes | None, bytes]]) -> None:
        produce, poll, topic, callback = self.producer.produce, self.producer.poll, self.topic, self._on_delivery
        for key, value in records:
            while True:
                try:
                    produce(topic, value=value, key=key, on_delivery=callback)
                    break
                except BufferError:  # local queue full: let deliveries drain, then retry this record
                    poll(0.05)
        poll(0)

    def finish(self, timeout_s: float = 60) -> int:
        remaining = self.producer.flush(timeout_s)
        if self.failures or remaining:
            raise PublishError(
                f"{len(self.failures)} record(s) failed, {remaining} unacknowledged: {self.failures[:3]}"
            )
        return self.delivered


def publish(
    producer: Producer, topic: str, records: Iterable[tuple[bytes | None, bytes]], timeout_s: float = 60
) -> int:
    """Send (key, value) pairs; wait for every acknowledgement; raise if any record failed."""
    sender = AckedSender(producer, topic)
    sender.send(records)
    return sender.finish(timeout_s)
