"""Rules are compiled before they are used: what cannot run on a micro-batch is refused, naming the rule."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.rules import RuleError, RuleSet, RuleWatcher, compile_rules

SCHEMA = "amount_brl decimal(18,2), payer_amount_sum_24h double, payer_tx_count_10m long, payee_key string"


def rules_text(when: str, version: str = "1") -> str:
    return f'version: "{version}"\nrules:\n  - code: TEST_RULE\n    when: "{when}"\n    action: REVIEW\n'


@pytest.fixture
def schema(spark):  # noqa: ANN001, ANN201
    return spark.createDataFrame([], SCHEMA).schema


def test_a_row_wise_boolean_rule_compiles(schema) -> None:  # noqa: ANN001
    rules = compile_rules(rules_text("amount_brl > 1000 AND payer_tx_count_10m >= 5"), "rules.yaml", schema)
    assert [r.code for r in rules.rules] == ["TEST_RULE"] and rules.version.startswith("1+")


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("no_such_column > 1", "rule TEST_RULE: does not compile"),
        ("amount_brl + 1", "rule TEST_RULE: condition is decimal\\(19,2\\), not boolean"),
        # An aggregate analyses on its own, not beside the payment's columns: it must not reach a batch.
        ("max(amount_brl) > 1000", "rule TEST_RULE: does not compile"),
        # ANSI mode: a new payer's 24 h sum is 0, and the whole micro-batch would fail.
        (
            "amount_brl / payer_amount_sum_24h > 10",
            "rule TEST_RULE: fails on a row of zeros and nulls: .*DIVIDE_BY_ZERO",
        ),
    ],
)
def test_a_rule_that_cannot_run_is_refused_naming_it(schema, when: str, message: str) -> None:  # noqa: ANN001
    with pytest.raises(RuleError, match=f"rules.yaml: {message}"):
        compile_rules(rules_text(when), "rules.yaml", schema)


def test_a_file_refused_at_start_gives_way_to_the_rules_the_query_last_decided_with(
    schema,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_text("amount_brl > 1000", version="1"))
    last_used = RuleWatcher(path, schema, check_interval_s=0).current
    path.write_text(rules_text("no_such_column > 1", version="2"))
    with pytest.raises(RuleError, match="does not compile"):
        RuleWatcher(path, schema, check_interval_s=0)  # nothing to fall back to: the job cannot start
    watcher = RuleWatcher(path, schema, check_interval_s=0, fallback=last_used)
    assert watcher.current == last_used
    assert watcher.last_error and "TEST_RULE: does not compile" in watcher.last_error


def test_a_rule_failing_on_a_batch_is_disabled_until_the_file_changes_and_the_others_stay(
    schema,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        'version: "2"\nrules:\n'
        '  - code: BIG\n    when: "amount_brl > 1000"\n    action: REVIEW\n'
        '  - code: RATIO\n    when: "amount_brl / (amount_brl - 150.75) > 1"\n    action: BLOCK\n'
    )
    watcher = RuleWatcher(path, schema, check_interval_s=0)
    loaded = watcher.current
    watcher.disable(loaded, ["RATIO"], ValueError("[DIVIDE_BY_ZERO] Division by zero.\nmore"))
    assert [r.code for r in watcher.current.rules] == ["BIG"]
    assert watcher.current.version == f"{loaded.version}-without-RATIO"
    assert watcher.last_error == (
        f"{path}: rule RATIO of version {loaded.version} failed on a micro-batch's payments and is disabled until"
        " the file changes; the other rules stay in force: [DIVIDE_BY_ZERO] Division by zero."
    )
    assert not watcher.refresh(force=True) and [r.code for r in watcher.current.rules] == ["BIG"]  # same file
    path.write_text(rules_text("amount_brl > 2000", version="3"))
    assert watcher.refresh(force=True) and watcher.current.version.startswith("3+") and watcher.last_error is None
    assert isinstance(watcher.current, RuleSet)
