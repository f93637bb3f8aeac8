"""conf/simulator.yaml as typed settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pixguard.config import load_yaml_as

SIMULATOR_CONFIG_FILE = "conf/simulator.yaml"


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationSettings(_Settings):
    # Who exists is fixed by this seed, not by a run's: a live run pays between the same people,
    # devices and keys as the history that trained the model and filled the key registry.
    seed: int = 2026
    persons: int = Field(default=60_000, ge=100, le=10**8)
    companies: int = Field(default=6_000, ge=20, le=10**7)
    merchant_share: float = Field(default=0.5, gt=0, le=1)
    mule_share: float = Field(default=0.004, gt=0, lt=0.1)


class HistorySettings(_Settings):
    transactions_per_day: int = Field(default=40_000, gt=0)


class ScenarioShares(_Settings):
    account_takeover: float = Field(default=0.0012, ge=0, lt=0.05)
    fake_relative: float = Field(default=0.0015, ge=0, lt=0.05)
    mule_fan_in: float = Field(default=0.0012, ge=0, lt=0.05)
    test_payments: float = Field(default=0.0008, ge=0, lt=0.05)
    night_coercion: float = Field(default=0.0006, ge=0, lt=0.05)
    qr_swap: float = Field(default=0.0010, ge=0, lt=0.05)

    def items(self) -> list[tuple[str, float]]:
        return [(name, getattr(self, name)) for name in type(self).model_fields]


class LabelSettings(_Settings):
    report_probability: float = Field(default=0.8, ge=0, le=1)
    delay_median_hours: float = Field(default=72, gt=0)
    delay_sigma: float = Field(default=1.0, ge=0, le=3)
    min_delay_hours: float = Field(default=1, ge=0)
    max_delay_days: float = Field(default=80, gt=0)
    false_report_rate: float = Field(default=0.0002, ge=0, lt=0.01)

    @model_validator(mode="after")
    def _bounds(self) -> LabelSettings:
        if self.min_delay_hours >= self.max_delay_days * 24:
            raise ValueError("min_delay_hours must be below max_delay_days")
        return self


class DictMarkSettings(_Settings):
    min_delay_hours: float = Field(default=24, ge=0)
    max_delay_hours: float = Field(default=168, gt=0)


class SimulatorConfig(_Settings):
    population: PopulationSettings = PopulationSettings()
    history: HistorySettings = HistorySettings()
    scenarios: ScenarioShares = ScenarioShares()
    labels: LabelSettings = LabelSettings()
    dict_marks: DictMarkSettings = DictMarkSettings()


def load_simulator_config(project_root: Path, path: Path | None = None) -> SimulatorConfig:
    return load_yaml_as(SimulatorConfig, path or project_root / SIMULATOR_CONFIG_FILE)
