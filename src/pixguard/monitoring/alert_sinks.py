"""Where alert events go: Kafka `pix.ops-alerts`, the log, and an optional webhook.

A sink that fails is logged and skipped; the others still receive the event, and the job goes on
scoring. Events carry `alert_id` and `status`, so a consumer that sees one twice (a retried
delivery) can drop the repeat."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Protocol

from pixguard.config import Bundle, KafkaSettings, StreamingConfig
from pixguard.monitoring.alerts import AlertEvent
from pixguard.monitoring.masking import mask_text

log = logging.getLogger("pixguard.alerts")


class AlertSink(Protocol):
    def send(self, event: AlertEvent) -> None: ...


class LogAlertSink:
    _LEVELS = {"critical": logging.ERROR, "warning": logging.WARNING, "info": logging.INFO}

    def send(self, event: AlertEvent) -> None:
        level = self._LEVELS.get(event.severity, logging.WARNING) if event.status == "firing" else logging.WARNING
        log.log(level, "ALERT %s [%s] %s", event.status.upper(), event.severity, mask_text(event.summary))


class KafkaAlertSink:
    """Keyed by rule name: one partition per rule keeps each rule's firing before its resolution."""

    def __init__(self, kafka: KafkaSettings, topic: str) -> None:
        self.kafka, self.topic = kafka, topic
        self._producer = None

    def send(self, event: AlertEvent) -> None:
        from pixguard.infra.producer import make_producer, publish

        if self._producer is None:
            self._producer = make_producer(self.kafka, **{"linger.ms": "0"})
        publish(self._producer, self.topic, [(event.rule.encode(), json.dumps(event.to_json()).encode())], 15)


class WebhookAlertSink:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url, self.timeout_s = url, timeout_s

    def send(self, event: AlertEvent) -> None:
        import requests

        # The URL may embed a token: errors name the failure, never the URL.
        try:
            response = requests.post(self.url, json=event.to_json(), timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise RuntimeError(f"webhook unreachable ({type(exc).__name__})") from None
        if response.status_code >= 300:
            raise RuntimeError(f"webhook answered HTTP {response.status_code}")


def ops_alert_sinks(bundle: Bundle, config: StreamingConfig) -> list[AlertSink]:
    """Where every pixguard alert goes, from the stream, the supervisor or an Airflow task: the log,
    Kafka topics.ops_alerts, and the webhook when one is configured."""
    sinks: list[AlertSink] = [LogAlertSink(), KafkaAlertSink(bundle.target.kafka, config.topics.ops_alerts.name)]
    if url := config.monitoring.resolved_webhook_url():
        sinks.append(WebhookAlertSink(url))
    return sinks


def dispatch(events: Iterable[AlertEvent], sinks: Iterable[AlertSink]) -> None:
    sinks = list(sinks)
    for event in events:
        for sink in sinks:
            try:
                sink.send(event)
            except Exception as exc:  # noqa: BLE001 - one broken sink must not silence the others
                log.error("alert sink %s failed for %s: %s", type(sink).__name__, event.alert_id, mask_text(str(exc)))
