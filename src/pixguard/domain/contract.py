"""The transaction contract: one Great Expectations suite (expectations/*.json), two enforcers.

Great Expectations validates tables and training sets in batch from the suite as it is. The stream
cannot afford a GE validation per micro-batch, so this module compiles the same expectations into
Spark column predicates (pixguard.domain.document_expectation adds the CPF/CNPJ check-digit expectation GE
lacks, on the same SQL); each carries the reason code from the expectation's `meta.reason`, which
is what a quarantined record is tagged with. Semantics follow GE's: values that are null pass every
expectation except `not_be_null`, and `row_condition` restricts the rows an expectation applies to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixguard.domain.documents import valid_document_sql

if TYPE_CHECKING:
    from pyspark.sql import Column

TRANSACTION_CONTRACT = "expectations/pix_transaction.json"


class ContractError(ValueError):
    pass


@dataclass(frozen=True)
class ColumnCheck:
    """One expectation as a Spark SQL predicate that is true when a row violates it."""

    reason: str
    expectation: str
    column: str
    violation_sql: str

    def violation(self) -> Column:
        from pyspark.sql import functions as F

        return F.coalesce(F.expr(self.violation_sql), F.lit(False))


def _literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def _quote(column: str) -> str:
    return f"`{column}`"


def _violation_sql(expectation: str, column: str, kwargs: dict[str, Any]) -> str:
    col = _quote(column)
    if expectation == "expect_column_values_to_not_be_null":
        return f"{col} IS NULL"
    if expectation == "expect_column_values_to_be_valid_cpf_or_cnpj":
        return f"{col} IS NOT NULL AND NOT ({valid_document_sql(col)})"
    if expectation == "expect_column_values_to_match_regex":
        return f"{col} IS NOT NULL AND NOT ({col} RLIKE {_literal(kwargs['regex'])})"
    if expectation == "expect_column_values_to_be_in_set":
        values = ", ".join(_literal(v) for v in kwargs["value_set"])
        return f"{col} IS NOT NULL AND {col} NOT IN ({values})"
    if expectation in ("expect_column_values_to_be_between", "expect_column_value_lengths_to_be_between"):
        measured = f"length({col})" if expectation == "expect_column_value_lengths_to_be_between" else col
        bounds = []
        if kwargs.get("min_value") is not None:
            bounds.append(f"{measured} {'>' if kwargs.get('strict_min') else '>='} {_literal(kwargs['min_value'])}")
        if kwargs.get("max_value") is not None:
            bounds.append(f"{measured} {'<' if kwargs.get('strict_max') else '<='} {_literal(kwargs['max_value'])}")
        return f"{col} IS NOT NULL AND NOT ({' AND '.join(bounds) or 'true'})"
    raise ContractError(f"expectation type {expectation} has no stream enforcer")


def _row_condition(kwargs: dict[str, Any]) -> str | None:
    condition = kwargs.get("row_condition")
    if condition is None:
        return None
    if kwargs.get("condition_parser") != "spark":
        raise ContractError("row_condition needs condition_parser 'spark' to be enforced in the stream")
    if isinstance(condition, dict):
        return condition["pass_through_filter"]
    return str(condition)


def compile_expectations(suite: dict[str, Any], source: str = "suite") -> list[ColumnCheck]:
    checks = []
    for index, expectation in enumerate(suite.get("expectations", [])):
        kind, kwargs, meta = expectation["type"], expectation.get("kwargs", {}), expectation.get("meta", {})
        if meta.get("batch_only"):
            continue
        where = f"{source}: expectations[{index}] ({kind})"
        if "column" not in kwargs:
            raise ContractError(f"{where}: only column expectations can be enforced in the stream")
        if not meta.get("reason"):
            raise ContractError(f"{where}: meta.reason (the quarantine reason code) is required")
        try:
            violation = _violation_sql(kind, kwargs["column"], kwargs)
        except ContractError as exc:
            raise ContractError(f"{where}: {exc}") from None
        if condition := _row_condition(kwargs):
            violation = f"({condition}) AND ({violation})"
        checks.append(ColumnCheck(meta["reason"], kind, kwargs["column"], violation))
    return checks


def load_suite(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ContractError(f"{path}: cannot read the expectation suite: {exc}") from exc


def load_transaction_checks(project_root: Path) -> list[ColumnCheck]:
    path = project_root / TRANSACTION_CONTRACT
    return compile_expectations(load_suite(path), str(path))
