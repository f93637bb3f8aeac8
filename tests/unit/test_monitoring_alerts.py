"""Alert rules: each fires once and resolves once, waits its `for_s`, damps flapping, holds on
unknown values; bad rules fail with the file and the key."""

from __future__ import annotations

import typing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from pixguard.config import AlertMetric, AlertRule, ConfigError, load_streaming_config
from pixguard.monitoring.alerts import AlertEvaluator
from pixguard.monitoring.signals import SIGNALS

PROJECT_ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def rule(**overrides: object) -> AlertRule:
    body = {"name": "quarantine_high", "metric": "quarantine_rate", "comparison": ">", "threshold": 0.01}
    return AlertRule.model_validate(body | overrides)


def run(evaluator: AlertEvaluator, metric: str, timeline: list[tuple[float, float | None]]) -> list[tuple]:
    """Evaluate a (seconds after T0, value) timeline; return (second, status) of every event."""
    events = []
    for second, value in timeline:
        for event in evaluator.evaluate({metric: value}, T0 + timedelta(seconds=second)):
            events.append((second, event.status))
    return events


def test_fires_once_while_the_condition_holds_and_resolves_once() -> None:
    evaluator = AlertEvaluator([rule()], job="test")
    timeline = [(0, 0.0), (1, 0.2), (2, 0.5), (3, 0.3), (4, 0.0), (5, 0.0), (6, 0.0)]
    assert run(evaluator, "quarantine_rate", timeline) == [(1, "firing"), (4, "resolved")]
    assert evaluator.active == []


def test_firing_and_resolution_share_the_alert_id_and_carry_the_value() -> None:
    evaluator = AlertEvaluator([rule(severity="critical")], job="pixguard-streaming")
    fired = evaluator.evaluate({"quarantine_rate": 0.25}, T0)
    assert [e.status for e in fired] == ["firing"] and evaluator.active == fired
    resolved = evaluator.evaluate({"quarantine_rate": 0.0}, T0 + timedelta(seconds=9))
    assert resolved[0].alert_id == fired[0].alert_id and resolved[0].started_at == T0
    assert fired[0].value == 0.25 and fired[0].severity == "critical" and "0.25" in fired[0].summary
    body = resolved[0].to_json()
    assert body["status"] == "resolved" and body["at"] == (T0 + timedelta(seconds=9)).isoformat()


def test_for_s_requires_the_condition_to_hold_that_long_and_a_dip_restarts_the_wait() -> None:
    evaluator = AlertEvaluator([rule(for_s=60)], job="test")
    timeline = [(0, 0.5), (30, 0.5), (45, 0.0), (50, 0.5), (100, 0.5), (110, 0.5), (200, 0.5)]
    assert run(evaluator, "quarantine_rate", timeline) == [(110, "firing")]


def test_resolve_after_s_keeps_a_flapping_signal_to_one_firing() -> None:
    evaluator = AlertEvaluator([rule(resolve_after_s=30)], job="test")
    flapping = [(s, 0.5 if s % 20 == 0 else 0.0) for s in range(0, 200, 10)]
    settled = [(200 + s, 0.0) for s in range(0, 40, 10)]
    # the last breach is at 180, so the signal is clear from 190 and resolves 30 s later
    assert run(evaluator, "quarantine_rate", flapping + settled) == [(0, "firing"), (220, "resolved")]


def test_unknown_values_neither_fire_nor_resolve() -> None:
    evaluator = AlertEvaluator([rule()], job="test")
    assert run(evaluator, "quarantine_rate", [(0, None), (1, 0.5), (2, None), (3, None)]) == [(1, "firing")]
    assert [e.rule for e in evaluator.active] == ["quarantine_high"]


def test_outside_band_fires_below_and_above() -> None:
    band = rule(name="block_band", metric="block_rate", comparison="outside", threshold=[0.001, 0.05])
    evaluator = AlertEvaluator([band], job="test")
    timeline = [(0, 0.01), (1, 0.0), (2, 0.01), (3, 0.2), (4, 0.05)]
    assert run(evaluator, "block_rate", timeline) == [(1, "firing"), (2, "resolved"), (3, "firing"), (4, "resolved")]


def test_rules_are_independent_and_summaries_are_masked() -> None:
    failing = rule(name="model_reload_failed", metric="model_reload_failing", comparison=">=", threshold=1)
    evaluator = AlertEvaluator([rule(), failing], job="test")
    detail = "model refused while scoring payer 529.982.247-25, key ana@example.com"
    events = evaluator.evaluate(
        {"quarantine_rate": 0.0, "model_reload_failing": 1.0}, T0, {"model_reload_failing": detail}
    )
    assert [e.rule for e in events] == ["model_reload_failed"]
    assert "529.982.247-25" not in events[0].summary and "ana@example.com" not in events[0].summary
    assert "***.982.247-**" in events[0].summary


def test_every_configurable_metric_is_a_computed_signal() -> None:
    assert set(typing.get_args(AlertMetric)) == set(SIGNALS)


def test_project_config_has_the_example_rules() -> None:
    config = load_streaming_config(PROJECT_ROOT)
    rules = {r.name: r for r in config.monitoring.alerts}
    assert rules["decision_latency_p99_high"].threshold == 1000 and rules["decision_latency_p99_high"].for_s == 60
    assert rules["kafka_lag_growing"].for_s == 300 and rules["no_progress"].threshold == 120
    assert rules["quarantine_rate_high"].threshold == 0.01
    assert rules["block_rate_out_of_band"].comparison == "outside"
    assert rules["model_reload_failed"].metric == "model_reload_failing"
    assert rules["rules_reload_failed"].metric == "rules_reload_failing" and rules["rules_reload_failed"].for_s == 0


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"metric": "latency_p99"}, "monitoring.alerts.1.metric", "decision_latency_p50_ms"),
        ({"comparison": "=="}, "monitoring.alerts.1.comparison", "Input should be"),
        ({"comparison": "outside"}, "monitoring.alerts.1", "threshold: [low, high]"),
        ({"threshold": [2, 1], "comparison": "outside"}, "monitoring.alerts.1", "low <= high"),
        ({"threshold": [1, 2]}, "monitoring.alerts.1", "single number"),
        ({"name": "Bad Name"}, "monitoring.alerts.1.name", "pattern"),
    ],
)
def test_a_bad_rule_names_the_file_and_the_key(tmp_path: Path, change: dict, key: str, message: str) -> None:
    data = yaml.safe_load((PROJECT_ROOT / "conf" / "streaming_config.yaml").read_text())
    data["monitoring"]["alerts"][1].update(change)
    file = tmp_path / "streaming_config.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_streaming_config(path=file)
    assert caught.value.file == str(file)
    assert caught.value.key == key
    assert message in caught.value.problem


def test_repeated_rule_names_are_refused(tmp_path: Path) -> None:
    data = yaml.safe_load((PROJECT_ROOT / "conf" / "streaming_config.yaml").read_text())
    data["monitoring"]["alerts"].append(dict(data["monitoring"]["alerts"][0]))
    file = tmp_path / "streaming_config.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="repeated") as caught:
        load_streaming_config(path=file)
    assert caught.value.key == "monitoring.alerts"
