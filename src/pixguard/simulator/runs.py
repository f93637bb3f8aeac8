"""The simulator's runs as the CLI and the demo start them: history (+ backfill) and live traffic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd

from pixguard.config import Bundle, StreamingConfig
from pixguard.infra.kafka_topics import ensure_topics
from pixguard.simulator.history import HISTORY_TOPIC, HistorySummary, write_history
from pixguard.simulator.live import LiveSummary, simulate_live
from pixguard.simulator.settings import SimulatorConfig


@dataclass(frozen=True)
class HistoryRun:
    history: HistorySummary
    decided: int
    quarantined: int

    def text(self) -> str:
        return f"{self.history.text()}\n  backfilled decisions: {self.decided} decided, {self.quarantined} quarantined"


def run_history(
    bundle: Bundle,
    config: StreamingConfig,
    simulator: SimulatorConfig,
    days: float,
    seed: int,
    end: pd.Timestamp | None = None,
    backfill: bool = True,
) -> HistoryRun:
    from pixguard.infra.spark import build_spark_session
    from pixguard.stream.backfill import backfill_decisions

    spark = build_spark_session(bundle, "streaming", app_name="pixguard-history")
    history = write_history(spark, bundle, config, simulator, days, seed, end)
    decided = quarantined = 0
    if backfill:
        outcome = backfill_decisions(spark, bundle, config, history.end.to_pydatetime(), HISTORY_TOPIC)
        decided, quarantined = outcome.decided, outcome.quarantined
    return HistoryRun(history, decided, quarantined)


def run_live(
    bundle: Bundle,
    config: StreamingConfig,
    simulator: SimulatorConfig,
    rate: float,
    count: int,
    seed: int,
    label_time_scale: float = 1.0,
    progress: bool = True,
) -> LiveSummary:
    ensure_topics(bundle.target.kafka, config.topics.all())
    return simulate_live(bundle, config, simulator, rate, count, seed, label_time_scale, progress)


def default_seed() -> int:
    return int(datetime.now(UTC).timestamp()) % 1_000_000
