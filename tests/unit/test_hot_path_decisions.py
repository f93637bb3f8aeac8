"""The decision of the hot path's real plan: DICT data kept as keyed state from its topics (a key or a
mark that arrives changes the next decisions, a mark made after the payment does not count), and the
model scored in the JVM with the encodings it was trained on."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.hot_path_helpers import TOPICS, by_end_to_end_id, publish, run_hot_path, tiny_booster
from tests.unit.test_validate import good_message, valid_cpf

AT = datetime(2026, 11, 25, 11, 0, 0)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds") + "Z"


def pay(seq: int, minutes: int, **fields: object) -> tuple[str, dict]:
    message = good_message(
        end_to_end_id=f"E60746948202611251100{seq:011d}", event_time=iso(AT + timedelta(minutes=minutes)), **fields
    )
    return TOPICS.transactions, message


def key(value: str, owner: str, created: datetime) -> tuple[str, dict]:
    return TOPICS.dict_keys, {"key": value, "key_type": "EMAIL", "owner_document": owner, "created_at": iso(created)}


def mark(value: str, kind: str, marked: datetime) -> tuple[str, dict]:
    return TOPICS.dict_marks, {"marked_value": value, "mark_type": kind, "marked_at": iso(marked)}


def test_dict_keys_and_marks_published_while_it_runs_change_the_next_decisions(
    spark,  # noqa: ANN001
    bundle,  # noqa: ANN001
    streaming_config,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    shop = good_message()["payee_key"]  # pagamentos@loja.com.br, of payee 11222333000181
    payee = good_message()["payee_document"]
    batches = [
        [key(shop, payee, AT - timedelta(days=3)), pay(1, 0, payer_document=valid_cpf(1))],
        # The payee's document is marked at 11:10: the payment of 11:05 (a late one) is before it.
        [mark(payee, "DOCUMENT", AT + timedelta(minutes=10)), pay(2, 5, payer_document=valid_cpf(2))],
        [pay(3, 20, payer_document=valid_cpf(3))],
        # The payer's account (ISPB:branch:account) is marked; its next payment may not be sent.
        [mark("60746948:0001:777777", "ACCOUNT", AT), pay(4, 30, payer_document=valid_cpf(4), payer_account="777777")],
    ]
    decided = {
        e: o[0] for e, o in by_end_to_end_id(run_hot_path(spark, bundle, streaming_config, tmp_path, batches)).items()
    }
    first, late, marked, payer_marked = (decided[f"E60746948202611251100{i:011d}"] for i in range(1, 5))

    assert first["payee_key_age_days"] == pytest.approx(3.0) and not first["payee_dict_marked"]
    assert first["decision"] == "APPROVE"
    assert not late["payee_dict_marked"] and "DICT_MARKED_PAYEE" not in late["reasons"]
    assert marked["payee_dict_marked"] and marked["decision"] == "BLOCK" and "DICT_MARKED_PAYEE" in marked["reasons"]
    assert marked["payee_key_age_days"] == pytest.approx(3.0 + 20 / 1440, abs=1e-3)
    assert payer_marked["payer_dict_marked"] and "DICT_MARKED_PAYER" in payer_marked["reasons"]


def test_a_new_query_starts_from_the_dict_entries_the_archive_holds(
    spark,  # noqa: ANN001
    bundle,  # noqa: ANN001
    streaming_config,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    from pixguard.domain.schema import DICT_MARK_FIELDS, KEY_REGISTRY_FIELDS, TRANSACTION_FIELDS, ddl_of
    from pixguard.infra.jvm import empty_frame
    from pixguard.stream.seed import PAST_PAYMENT_COLUMNS, Seeds

    shop = good_message()["payee_key"]
    registry = spark.createDataFrame(
        [(shop, "EMAIL", "11222333000181", AT - timedelta(days=10))], ddl_of(KEY_REGISTRY_FIELDS)
    )
    payments = empty_frame(spark, ddl_of(TRANSACTION_FIELDS)).select(*PAST_PAYMENT_COLUMNS)
    seeds = Seeds(payments, registry, empty_frame(spark, ddl_of(DICT_MARK_FIELDS)))
    (outcome,) = run_hot_path(spark, bundle, streaming_config, tmp_path, [[pay(1, 0)]], seeds)
    assert outcome["payee_key_age_days"] == pytest.approx(10.0)


def test_the_champion_scores_in_the_jvm_on_the_encodings_it_was_trained_on(
    spark,  # noqa: ANN001
    bundle,  # noqa: ANN001
    streaming_config,  # noqa: ANN001
    tmp_path: Path,
) -> None:
    """The score each decision carries equals the Python score of the same booster on the decision's
    own served features, as training reads them (with_model_features)."""
    import numpy as np
    import pandas as pd

    from pixguard.features.model_input import MODEL_FEATURES, with_model_features
    from pixguard.stream.hot_path import decision_record_schema

    booster, _ = tiny_booster(MODEL_FEATURES, seed=4)
    publish(
        spark,
        tmp_path / "serving",
        (bundle.project_root / streaming_config.rules.path).read_text(),
        booster.model_to_string(),
        model_version="7",
    )
    payments = [pay(i, i, payer_document=valid_cpf(i % 3), amount_brl=50.0 + 40 * i) for i in range(12)]
    outcomes = run_hot_path(spark, bundle, streaming_config, tmp_path, [payments])
    assert {o["model_version"] for o in outcomes} == {"7"} and all(o["score"] is not None for o in outcomes)

    lines = spark.sparkContext.parallelize([json.dumps(o) for o in outcomes])
    rows = spark.read.schema(decision_record_schema(spark)).json(lines)  # the decisions table's columns
    frame: pd.DataFrame = with_model_features(rows).select("end_to_end_id", *MODEL_FEATURES).toPandas()
    python = booster.predict(frame[MODEL_FEATURES].astype("float64").to_numpy())
    served = {o["end_to_end_id"]: o["score"] for o in outcomes}
    assert np.abs(np.array([served[e] for e in frame["end_to_end_id"]]) - python).max() <= 1e-9
    explained = [o for o in outcomes if o["score"] >= streaming_config.scoring.review_threshold]
    assert all(any(r.startswith("MODEL:") for r in o["reasons"]) or not o["model_reasons"] for o in explained)
