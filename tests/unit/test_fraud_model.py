"""FraudModel.predict on a small real LightGBM booster: scores, and reasons only where asked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pixguard.model.fraud_model import FraudModel


def trained_model() -> tuple[FraudModel, pd.DataFrame]:
    import lightgbm as lgb

    rng = np.random.default_rng(7)
    features = pd.DataFrame({"amount": rng.exponential(200, 2000), "velocity": rng.poisson(2, 2000).astype(float)})
    fraud = ((features.amount > 400) & (features.velocity > 3)).astype(int)
    booster = lgb.train(
        {"objective": "binary", "verbose": -1, "min_data_in_leaf": 5}, lgb.Dataset(features, fraud), num_boost_round=20
    )
    return FraudModel(booster, list(features.columns)), features


def test_reasons_are_computed_only_for_scores_at_or_above_the_threshold_and_scores_do_not_change() -> None:
    model, features = trained_model()
    everything = model.predict(None, features, {"top_features": 2})
    high = model.predict(None, features, {"top_features": 2, "explain_from_score": 0.5})

    np.testing.assert_array_equal(everything["score"], high["score"])
    above = high["score"] >= 0.5
    assert 0 < above.sum() < len(features)
    assert high.loc[~above, "top_features"].isna().all()
    assert high.loc[above, "top_features"].tolist() == everything.loc[above, "top_features"].tolist()
    assert all(isinstance(r, list) and len(r) <= 2 for r in everything["top_features"])
    assert any(r for r in high.loc[above, "top_features"])
