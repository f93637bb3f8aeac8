"""Quality gate on the training set: the Great Expectations suite `expectations/training_set.json`.

A failing gate stops the run before anything is trained, names the failed expectations (with the
reason code kept in each expectation's meta) and leaves the full report as JSON for whoever looks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pixguard.infra.quality import ExpectationOutcome, ValidationReport, validate_dataframe

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


class TrainingSetRejected(RuntimeError):
    def __init__(self, failed: list[ExpectationOutcome], report_path: Path) -> None:
        self.failed = failed
        self.report_path = report_path
        names = "; ".join(describe(o) for o in failed)
        super().__init__(f"training set failed its quality gate ({len(failed)} expectation(s)): {names}")


def describe(outcome: ExpectationOutcome) -> str:
    column = f"({outcome.column})" if outcome.column else ""
    reason = f" [{outcome.reason}]" if outcome.reason else ""
    return f"{outcome.expectation}{column}{reason}"


def write_report(report: ValidationReport, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {
        "suite": report.suite,
        "success": report.success,
        "failed": [describe(o) for o in report.failed()],
        "great_expectations": report.raw,
    }
    path.write_text(json.dumps(body, indent=2, default=str), encoding="utf-8")
    return path


def check_training_set(df: DataFrame, suite_path: Path, report_path: Path) -> ValidationReport:
    """Validate, always save the report; raise TrainingSetRejected when any expectation fails."""
    report = validate_dataframe(df, suite_path)
    write_report(report, report_path)
    if not report.success:
        raise TrainingSetRejected(report.failed(), report_path)
    return report
