"""Rules are compiled before they are used: what cannot run on a payment is refused, naming the rule;
what still fails on one is disabled where it runs, and the decisions say so."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.domain.rules import RuleError, RuleWatcher, compile_rules

SCHEMA = "amount_brl decimal(18,2), payer_amount_sum_24h double, payer_tx_count_10m long, payee_key string"


def rules_text(when: str, version: str = "1") -> str:
    return f'version: "{version}"\nrules:\n  - code: TEST_RULE\n    when: "{when}"\n    action: REVIEW\n'


@pytest.fixture
def schema(spark):  # noqa: ANN001, ANN201
    return spark.createDataFrame([], SCHEMA).schema


def test_a_row_wise_boolean_rule_compiles(spark, schema) -> None:  # noqa: ANN001
    rules = compile_rules(spark, rules_text("amount_brl > 1000 AND payer_tx_count_10m >= 5"), "rules.yaml", schema)
    assert [r.code for r in rules.rules] == ["TEST_RULE"] and rules.version.startswith("1+")


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("no_such_column > 1", "rule TEST_RULE: does not compile"),
        ("amount_brl + 1", "rule TEST_RULE: condition is decimal\\(19,2\\), not boolean"),
        # An aggregate analyses on its own, not beside the payment's columns: it must not reach a batch.
        ("max(amount_brl) > 1000", "rule TEST_RULE: is not a row-wise expression"),
        # ANSI mode: a new payer's 24 h sum is 0, and the whole micro-batch would fail.
        (
            "amount_brl / payer_amount_sum_24h > 10",
            "rule TEST_RULE: fails on a row of zeros and nulls: .*DIVIDE_BY_ZERO",
        ),
    ],
)
def test_a_rule_that_cannot_run_is_refused_naming_it(spark, schema, when: str, message: str) -> None:  # noqa: ANN001
    with pytest.raises(RuleError, match=f"rules.yaml: {message}"):
        compile_rules(spark, rules_text(when), "rules.yaml", schema)


def test_a_file_refused_at_start_gives_way_to_the_rules_the_query_last_decided_with(
    spark,  # noqa: ANN001
    schema,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(rules_text("amount_brl > 1000", version="1"))
    last_used = RuleWatcher(spark, path, schema, check_interval_s=0).current
    path.write_text(rules_text("no_such_column > 1", version="2"))
    with pytest.raises(RuleError, match="does not compile"):
        RuleWatcher(spark, path, schema, check_interval_s=0)  # nothing to fall back to: the job cannot start
    watcher = RuleWatcher(spark, path, schema, check_interval_s=0, fallback=last_used)
    assert watcher.current == last_used
    assert watcher.last_error and "TEST_RULE: does not compile" in watcher.last_error


def test_a_rule_failing_on_a_payment_is_disabled_there_and_the_others_decide(
    spark,  # noqa: ANN001
    bundle,  # noqa: ANN001
    streaming_config,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """Runs on a row of zeros, so it is accepted; the payments (R$ 150.75) divide by zero: the rule is
    disabled, the others decide, and every decision's rules version says which rule is out."""
    from tests.hot_path_helpers import publish, run_hot_path
    from tests.unit.test_validate import good_message, valid_cpf

    version = publish(
        spark,
        tmp_path / "serving",
        'version: "2"\nrules:\n'
        '  - code: BIG\n    when: "amount_brl > 100"\n    action: REVIEW\n'
        '  - code: RATIO\n    when: "amount_brl / (amount_brl - 150.75) > 1"\n    action: BLOCK\n',
    )
    payments = [
        ("pix.transactions", good_message(end_to_end_id=f"E60746948202611251159{i:011d}", payer_document=valid_cpf(i)))
        for i in range(3)
    ]
    outcomes = run_hot_path(spark, bundle, streaming_config, tmp_path, [payments])
    assert len(outcomes) == 3 and {o["outcome"] for o in outcomes} == {"decided"}
    assert {o["rules_version"] for o in outcomes} == {f"{version}-without-RATIO"}
    assert all(o["rule_hits"] == ["BIG"] and o["decision"] == "REVIEW" for o in outcomes)
