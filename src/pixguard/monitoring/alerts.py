"""Alert rules as a state machine: each rule fires once when its condition has held for `for_s`,
and resolves once when it has been clear for `resolve_after_s`. Pure: values and time come in,
events come out; where they go is `alert_sinks`."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal

from pixguard.config import AlertRule
from pixguard.monitoring.masking import mask_text

Status = Literal["firing", "resolved"]


@dataclass(frozen=True)
class AlertEvent:
    alert_id: str  # one per episode: the firing and its resolution share it, so consumers can pair them
    rule: str
    status: Status
    severity: str
    metric: str
    comparison: str
    threshold: float | tuple[float, float]
    value: float | None
    started_at: datetime  # when the condition was first seen true in this episode
    at: datetime
    job: str
    summary: str  # masked: it may quote an error message

    def to_json(self) -> dict[str, Any]:
        body = asdict(self)
        body["started_at"], body["at"] = self.started_at.isoformat(), self.at.isoformat()
        body["threshold"] = list(self.threshold) if isinstance(self.threshold, tuple) else self.threshold
        return body

    @classmethod
    def from_json(cls, body: Mapping[str, Any]) -> AlertEvent:
        threshold = body["threshold"]
        return cls(
            **{
                **body,
                "started_at": datetime.fromisoformat(body["started_at"]),
                "at": datetime.fromisoformat(body["at"]),
                "threshold": tuple(threshold) if isinstance(threshold, list) else threshold,
            }
        )

    def superseded(self, now: datetime) -> AlertEvent:
        """The resolution of an alert a previous run of the job left firing: its episode ends with
        that run (same alert_id); if the condition still holds, this run fires a new one."""
        text = (
            f"resolved: superseded, the job restarted (it fires again if {self.metric} still breaches): {self.summary}"
        )
        return replace(self, status="resolved", value=None, at=now, summary=mask_text(text)[:1000])


def breaches(rule: AlertRule, value: float) -> bool:
    if math.isnan(value):
        return False
    threshold = rule.threshold
    if rule.comparison == "outside":
        low, high = threshold  # type: ignore[misc]
        return value < low or value > high
    return {
        ">": value > threshold,
        ">=": value >= threshold,
        "<": value < threshold,
        "<=": value <= threshold,
    }[rule.comparison]


@dataclass
class _RuleState:
    pending_since: datetime | None = None
    clear_since: datetime | None = None
    firing: AlertEvent | None = None


class AlertEvaluator:
    def __init__(self, rules: list[AlertRule], job: str) -> None:
        self.rules, self.job = list(rules), job
        self._states = {rule.name: _RuleState() for rule in self.rules}

    @property
    def active(self) -> list[AlertEvent]:
        return [s.firing for s in self._states.values() if s.firing is not None]

    def evaluate(
        self, values: Mapping[str, float | None], now: datetime, details: Mapping[str, str] | None = None
    ) -> list[AlertEvent]:
        """The events this evaluation produces. An unknown value (None) changes nothing: no data is
        not evidence that a problem started or ended."""
        events = []
        for rule in self.rules:
            value = values.get(rule.metric)
            if value is None:
                continue
            event = self._step(rule, self._states[rule.name], float(value), now, (details or {}).get(rule.metric))
            if event is not None:
                events.append(event)
        return events

    def _step(
        self, rule: AlertRule, state: _RuleState, value: float, now: datetime, detail: str | None
    ) -> AlertEvent | None:
        if breaches(rule, value):
            state.clear_since = None
            if state.firing is not None:
                return None
            state.pending_since = state.pending_since or now
            if now - state.pending_since < timedelta(seconds=rule.for_s):
                return None
            state.firing = self._event(rule, "firing", value, state.pending_since, now, detail)
            return state.firing
        state.pending_since = None
        if state.firing is None:
            return None
        state.clear_since = state.clear_since or now
        if now - state.clear_since < timedelta(seconds=rule.resolve_after_s):
            return None
        fired, state.firing, state.clear_since = state.firing, None, None
        return self._event(rule, "resolved", value, fired.started_at, now, None)  # same started_at: same alert_id

    def _event(
        self, rule: AlertRule, status: Status, value: float, started_at: datetime, now: datetime, detail: str | None
    ) -> AlertEvent:
        threshold = (
            f"[{rule.threshold[0]:g}, {rule.threshold[1]:g}]"
            if isinstance(rule.threshold, tuple)
            else f"{rule.threshold:g}"
        )
        text = f"{rule.summary or rule.name}: {rule.metric} = {value:g} ({rule.comparison} {threshold})"
        if status == "resolved":
            text = f"resolved: {text}"
        if detail:
            text = f"{text}: {detail}"
        return AlertEvent(
            alert_id=f"{self.job}:{rule.name}:{started_at:%Y%m%dT%H%M%S.%f}",
            rule=rule.name,
            status=status,
            severity=rule.severity,
            metric=rule.metric,
            comparison=rule.comparison,
            threshold=rule.threshold,
            value=value,
            started_at=started_at,
            at=now,
            job=self.job,
            summary=mask_text(text)[:1000],
        )
