"""The contract compiler: GE expectations -> Spark violation predicates with reason codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.domain.contract import ContractError, compile_expectations, load_transaction_checks

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_every_expectation_of_the_transaction_contract_compiles_with_a_reason() -> None:
    checks = load_transaction_checks(PROJECT_ROOT)
    assert len(checks) >= 40
    assert all(check.reason for check in checks)
    regex = next(c for c in checks if c.reason == "invalid_end_to_end_id")
    assert regex.violation_sql.startswith("`end_to_end_id` IS NOT NULL AND NOT (`end_to_end_id` RLIKE '^E[0-9]{8}")


def test_row_condition_restricts_the_check() -> None:
    suite = {
        "expectations": [
            {
                "type": "expect_column_values_to_match_regex",
                "kwargs": {
                    "column": "payee_key",
                    "regex": "^[0-9]{11}$",
                    "row_condition": {"type": "pass_through", "pass_through_filter": 'payee_key_type = "CPF"'},
                    "condition_parser": "spark",
                },
                "meta": {"reason": "invalid_payee_key"},
            }
        ]
    }
    (check,) = compile_expectations(suite)
    assert check.violation_sql == (
        "(payee_key_type = \"CPF\") AND (`payee_key` IS NOT NULL AND NOT (`payee_key` RLIKE '^[0-9]{11}$'))"
    )


@pytest.mark.parametrize(
    ("expectation", "message"),
    [
        (
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "x"}, "meta": {"reason": "r"}},
            "no stream enforcer",
        ),
        ({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "x"}}, "meta.reason"),
        (
            {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}, "meta": {"reason": "r"}},
            "column",
        ),
    ],
)
def test_unenforceable_expectations_are_refused_by_name(expectation: dict, message: str) -> None:
    with pytest.raises(ContractError, match=message) as info:
        compile_expectations({"expectations": [expectation]}, "suite.json")
    assert "suite.json: expectations[0]" in str(info.value)


def test_batch_only_expectations_are_skipped_by_the_stream() -> None:
    suite = {
        "expectations": [
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "x"}, "meta": {"batch_only": True}}
        ]
    }
    assert compile_expectations(suite) == []
