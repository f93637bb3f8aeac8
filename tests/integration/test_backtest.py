"""`pixguard backtest` on the real Spark and MLflow: it decides as the stream decides (the same
payments through Kafka and the streaming job, and through the backtest), and a refused file writes
nothing."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pixguard.backtest.run import BacktestTables, run_backtest
from pixguard.features.model_input import MODEL_FEATURES
from pixguard.infra.datasets import DatasetError
from pixguard.infra.producer import make_producer, publish
from pixguard.model.publish import log_fraud_model
from pixguard.simulator.backtest_file import write_backtest_file
from pixguard.simulator.generator import IdSequence, message_keys, simulate_window, to_messages
from pixguard.simulator.population import generate_population
from pixguard.simulator.settings import PopulationSettings, ScenarioShares, SimulatorConfig
from tests.integration.job_helpers import decide_and_archive
from tests.unit.test_validate import good_message, valid_cpf

pytestmark = pytest.mark.integration

# Where the stream and the backtest legitimately differ: when and where the decision was made.
NOT_COMPARED = {"decided_at", "decision_latency_ms", "topic", "partition", "offset", "kafka_timestamp", "kafka_key",
                "published_at", "data_row", "is_fraud", "reported_at", "fraud_type"}  # fmt: skip
# Dense traffic from a small population: bursts, repeat payees and every fraud scenario in ten minutes.
SIMULATOR = SimulatorConfig(
    population=PopulationSettings(persons=400, companies=40),
    scenarios=ScenarioShares(**{name: 5 * share for name, share in ScenarioShares().items()}),
)


def test_the_backtest_decides_each_payment_as_the_stream_does(spark, isolated, mlflow_server, tmp_path) -> None:  # noqa: ANN001
    bundle, config = isolated
    booster, frame = spread_booster()
    name = bundle.target.mlflow.registered_model
    version = log_fraud_model(booster, frame, bundle.target.mlflow.tracking_uri, name).version
    from mlflow import MlflowClient

    MlflowClient(bundle.target.mlflow.tracking_uri).set_registered_model_alias(name, "champion", version)

    # A Brasília daytime window within the last day (the stream accepts event times up to a day old):
    # the model splits on the hour and the night flag, so the same hours whenever the suite runs.
    end = pd.Timestamp.now(tz="UTC").floor("s")
    while not 13 <= end.hour < 20:  # 10:00-17:00 in Brasília, outside Pix's night hours
        end -= pd.Timedelta(hours=1)
    rng = np.random.default_rng(3)
    population = generate_population(SIMULATOR.population)
    traffic = simulate_window(population, SIMULATOR, end - pd.Timedelta(minutes=10), end, 1_500, IdSequence(7), rng)
    payments = traffic.transactions
    assert payments["is_fraud"].sum() > 20
    publish(
        make_producer(bundle.target.kafka),
        config.topics.transactions.name,
        list(zip(message_keys(payments), to_messages(payments), strict=True)),
    )
    decide_and_archive(spark, bundle, config)

    file = write_backtest_file(payments, traffic.labels, tmp_path / "payments.parquet")
    summary = run_backtest(spark, bundle, config, file, "parity", progress=False)
    assert summary.payments == len(payments) and summary.model_version == version

    streamed = spark.read.format("delta").load(bundle.target.table_path(config.tables.decisions)).toPandas()
    backtested = spark.read.format("delta").load(summary.decisions_path).toPandas()
    assert len(streamed) == len(backtested) == len(payments)
    columns = sorted(set(streamed.columns) - NOT_COMPARED)
    assert set(columns) <= set(backtested.columns)
    left = streamed.set_index("end_to_end_id").sort_index()
    right = backtested.set_index("end_to_end_id").sort_index()
    differing = {}
    for column in (c for c in columns if c != "end_to_end_id"):
        for key, a, b in zip(left.index, left[column], right[column], strict=True):
            if not _same(a, b):
                differing.setdefault(column, []).append((key, a, b))
    assert not differing, {c: rows[:3] for c, rows in differing.items()}
    # The decisions are not trivially alike: features, rules and the model varied.
    assert right["score"].nunique() > 50 and right["decision"].nunique() >= 2
    assert right["payer_tx_count_10m"].max() > 1
    truth = payments.set_index("end_to_end_id")["is_fraud"]
    assert (right["is_fraud"] == truth.reindex(right.index)).all()
    labels = spark.read.format("delta").load(bundle.target.table_path(BacktestTables.named("parity").labels))
    assert labels.count() == int(payments["is_fraud"].sum())


def spread_booster():  # noqa: ANN201
    """A model whose splits fall across the ranges real features take (amounts in reais, counts), so
    the payments get many different scores."""
    import lightgbm as lgb

    rng = np.random.default_rng(11)
    scales = rng.choice([1, 2, 5, 10, 50, 100, 1_000, 5_000], size=(2_000, len(MODEL_FEATURES)))
    frame = pd.DataFrame(scales * rng.random((2_000, len(MODEL_FEATURES))), columns=MODEL_FEATURES)
    labels = ((frame["amount_brl_value"] > 300) ^ (frame["local_hour"] > 20)).astype(int)
    params = {"objective": "binary", "num_leaves": 15, "verbose": -1, "seed": 1}
    return lgb.train(params, lgb.Dataset(frame, labels), num_boost_round=40), frame


def _same(a: object, b: object) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    if isinstance(a, np.ndarray | list) or isinstance(b, np.ndarray | list):
        return list(a if a is not None else []) == list(b if b is not None else [])
    if a is None or b is None or (isinstance(a, float) and math.isnan(a)) or (isinstance(b, float) and math.isnan(b)):
        return (a is None or a != a) and (b is None or b != b)  # noqa: PLR0124 - NaN is not equal to itself
    return a == b


def _jsonl(path: Path, messages: list[dict]) -> Path:
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path


def test_a_refused_file_names_its_row_and_column_and_writes_nothing(spark, isolated, tmp_path, capfd) -> None:  # noqa: ANN001
    from delta.tables import DeltaTable

    bundle, config = isolated
    now = pd.Timestamp.now(tz="UTC")
    messages = [
        good_message(
            end_to_end_id=f"E60746948{now:%Y%m%d%H%M}{uuid.uuid4().hex[:11]}",
            event_time=(now - pd.Timedelta(minutes=5 - i)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            payer_document=valid_cpf(i),
            is_fraud=i == 2,
        )
        for i in range(5)
    ]
    bad = [*messages[:3], {**messages[3], "payee_ispb": "12"}, messages[4]]
    with pytest.raises(DatasetError, match=r"data row 4 is refused .*column payee_ispb: invalid_payee_ispb.*nothing"):
        run_backtest(spark, bundle, config, _jsonl(tmp_path / "bad.jsonl", bad), "refused", progress=False)
    repeated = [*messages, messages[1]]
    with pytest.raises(DatasetError, match=r"data row 6 .*end_to_end_id of data row 2 again"):
        run_backtest(spark, bundle, config, _jsonl(tmp_path / "twice.jsonl", repeated), "refused", progress=False)
    tables = BacktestTables.named("refused")
    for table in (tables.decisions, tables.labels):
        assert not DeltaTable.isDeltaTable(spark, bundle.target.table_path(table))
    with pytest.raises(ValueError, match="backtest name 'Decisions'"):
        BacktestTables.named("Decisions")

    capfd.readouterr()
    summary = run_backtest(spark, bundle, config, _jsonl(tmp_path / "good.jsonl", messages), "refused")
    assert (summary.payments, summary.frauds, summary.model_version) == (5, 1, None)
    assert "deciding 5 payments" in capfd.readouterr().err  # the progress bar, on stderr
