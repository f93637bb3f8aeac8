"""conf monitoring.alerts as Prometheus alerting rules (ops/prometheus/rules.yml), for operators who
route alerts through Prometheus and Alertmanager. Each rule reads the gauge the job serves for its
metric (`pixguard_job_<metric>`), so Prometheus and the in-job evaluation (which also sends to Kafka
and the webhook) fire on the same figures."""

from __future__ import annotations

from typing import Any

import yaml

from pixguard.config import AlertRule, MonitoringSettings
from pixguard.monitoring.prometheus import PREFIX

HEADER = """\
# Generated from conf/streaming_config.yaml monitoring.alerts by `pixguard prometheus-rules`:
# edit the configuration and run `pixguard prometheus-rules --out ops/prometheus/rules.yml`, not this file.
"""


def _condition(rule: AlertRule) -> str:
    series = f"{PREFIX}_job_{rule.metric}"
    if rule.comparison == "outside":
        low, high = rule.threshold  # type: ignore[misc]
        return f"{series} < {low:g} or {series} > {high:g}"
    return f"{series} {rule.comparison} {rule.threshold:g}"


def _default_summary(rule: AlertRule) -> str:
    if rule.comparison == "outside":
        low, high = rule.threshold  # type: ignore[misc]
        return f"{rule.metric} outside [{low:g}, {high:g}]"
    return f"{rule.metric} {rule.comparison} {rule.threshold:g}"


def _rule(rule: AlertRule) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "alert": rule.name,
        "expr": _condition(rule),
        "for": f"{rule.for_s:g}s",
        "labels": {"severity": rule.severity},
        "annotations": {"summary": rule.summary or _default_summary(rule)},
    }
    if rule.resolve_after_s:
        # The in-job rule resolves only after resolve_after_s of false: Prometheus keeps firing as long.
        entry["keep_firing_for"] = f"{rule.resolve_after_s:g}s"
    return entry


def prometheus_rules(settings: MonitoringSettings) -> str:
    groups = [
        {
            "name": "pixguard",
            "interval": f"{settings.evaluation_interval_s:g}s",
            "rules": [_rule(rule) for rule in settings.alerts],
        }
    ]
    return HEADER + yaml.safe_dump({"groups": groups}, sort_keys=False, width=120)
