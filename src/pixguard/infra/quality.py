"""Great Expectations validation of DataFrames against the suites kept in expectations/."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixguard.domain.contract import load_suite

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation: str
    column: str | None
    reason: str | None
    success: bool
    unexpected_count: int


@dataclass(frozen=True)
class ValidationReport:
    suite: str
    success: bool
    outcomes: list[ExpectationOutcome]
    raw: dict[str, Any]

    def failed(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success]


def validate_dataframe(df: DataFrame, suite_path: Path) -> ValidationReport:
    """Validate a Spark DataFrame with Great Expectations (ephemeral context, the suite as stored)."""
    # GE's import chatter goes to the root logger; keep job and Airflow logs readable.
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    import great_expectations as gx

    import pixguard.domain.document_expectation  # noqa: F401 (registers the CPF/CNPJ expectation with GE)

    suite_json = load_suite(suite_path)
    context = gx.get_context(mode="ephemeral")
    suite = context.suites.add(gx.ExpectationSuite(name=suite_json["name"], expectations=suite_json["expectations"]))
    source = context.data_sources.add_spark(name="pixguard")
    batch_definition = source.add_dataframe_asset(name=suite_json["name"]).add_batch_definition_whole_dataframe("all")
    result = batch_definition.get_batch(batch_parameters={"dataframe": df}).validate(suite)
    outcomes = []
    for item in result.results:
        config = item.expectation_config
        outcomes.append(
            ExpectationOutcome(
                expectation=config.type,
                column=config.kwargs.get("column"),
                reason=(config.meta or {}).get("reason"),
                success=bool(item.success),
                unexpected_count=int(item.result.get("unexpected_count") or 0),
            )
        )
    return ValidationReport(suite_json["name"], bool(result.success), outcomes, result.to_json_dict())
