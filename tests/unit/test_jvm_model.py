"""The model scored in the JVM (pixguard.serving.LightGbmModel, LightGBM's own text format) gives the
scores and the reasons LightGBM's Python predictor gives, on a held-out set; a model it cannot score
exactly is refused with the reason."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pixguard.features.model_input import MODEL_FEATURES
from pixguard.model.fraud_model import FraudModel


def trained(seed: int = 3, rounds: int = 120):  # noqa: ANN201
    """A booster of the served features on data with missing values, zeros and ties, and a held-out set."""
    import lightgbm as lgb

    rng = np.random.default_rng(seed)
    n = 6000
    frame = pd.DataFrame(rng.normal(size=(n, len(MODEL_FEATURES))), columns=MODEL_FEATURES)
    frame.iloc[:, 1] = rng.integers(0, 24, n)  # hour-like, integer splits
    frame.iloc[:, 6] = rng.choice([0.0, 0.5, np.nan], n)  # zeros and NaN that a split must route
    frame = frame.mask(rng.random(frame.shape) < 0.05)  # missing values everywhere
    signal = frame.iloc[:, 0].fillna(0) + 0.7 * frame.iloc[:, 9].fillna(-1) - 0.3 * frame.iloc[:, 1] / 24
    labels = (signal + rng.normal(0, 0.6, n) > 1.3).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 31, "min_data_in_leaf": 10, "seed": seed}
    booster = lgb.train(params, lgb.Dataset(frame.iloc[:4500], labels.iloc[:4500]), num_boost_round=rounds)
    return booster, frame.iloc[4500:].reset_index(drop=True)


def jvm_model(spark, text: str):  # noqa: ANN001, ANN201
    return spark._jvm.pixguard.serving.LightGbmModel.parse(text)


def matrix(frame: pd.DataFrame) -> bytearray:
    return bytearray(frame[MODEL_FEATURES].to_numpy(dtype="<f8").tobytes())


def test_jvm_scores_equal_lightgbm_python_scores_on_a_held_out_set(spark) -> None:  # noqa: ANN001
    booster, held_out = trained()
    model = jvm_model(spark, booster.model_to_string())
    scores = spark._jvm.pixguard.serving.LightGbmMatrix.scores(model, matrix(held_out), len(MODEL_FEATURES))
    jvm = np.frombuffer(bytes(scores), dtype="<f8")
    python = booster.predict(held_out[MODEL_FEATURES].to_numpy(dtype="float64"))
    assert len(jvm) == len(held_out) == 1500
    assert np.abs(jvm - python).max() <= 1e-6


def test_jvm_contributions_and_reasons_equal_lightgbm_pred_contrib(spark) -> None:  # noqa: ANN001
    booster, held_out = trained()
    model = jvm_model(spark, booster.model_to_string())
    jvm_matrix = spark._jvm.pixguard.serving.LightGbmMatrix
    contributions = np.frombuffer(
        bytes(jvm_matrix.contributions(model, matrix(held_out), len(MODEL_FEATURES))), dtype="<f8"
    ).reshape(len(held_out), -1)
    python = booster.predict(held_out[MODEL_FEATURES].to_numpy(dtype="float64"), pred_contrib=True)
    assert np.abs(contributions - python).max() <= 1e-9
    reasons = str(jvm_matrix.topReasons(model, matrix(held_out), len(MODEL_FEATURES), 3)).split("\n")
    served = FraudModel(booster).predict(None, held_out, {"top_features": 3, "explain_from_score": 0.0})
    assert [r.split(",") if r else [] for r in reasons] == [list(t) for t in served["top_features"]]


def test_a_model_the_jvm_cannot_score_exactly_is_refused_naming_why(spark) -> None:  # noqa: ANN001
    import lightgbm as lgb
    from py4j.protocol import Py4JJavaError

    rng = np.random.default_rng(0)
    data = lgb.Dataset(rng.random((300, 3)), rng.integers(0, 3, 300))
    multiclass = lgb.train({"objective": "multiclass", "num_class": 3, "verbose": -1}, data, num_boost_round=2)
    with pytest.raises(Py4JJavaError, match="only binary models are served"):
        jvm_model(spark, multiclass.model_to_string())
    booster, _ = trained(rounds=3)
    serving = spark._jvm.pixguard.serving.Serving
    with pytest.raises(Py4JJavaError, match="the model lacks served features: amount_brl_value_x"):
        serving.checkModel(booster.model_to_string(), [*MODEL_FEATURES, "amount_brl_value_x"][1:])
    assert list(serving.checkModel(booster.model_to_string(), MODEL_FEATURES)) == MODEL_FEATURES
