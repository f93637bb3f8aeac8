"""Which model version the hot path scores with, against a fake registry: a version that fails to load
is tried again, one the JVM scorer refuses (it does not take the served features) is refused for good."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

import pixguard.stream.serving as serving


class Registry:
    """Stands in for MlflowClient: the champion alias names `version`."""

    version = "8"

    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri

    def get_model_version_by_alias(self, name: str, alias: str) -> SimpleNamespace:
        return SimpleNamespace(version=self.version)


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    monkeypatch.setattr(mlflow, "MlflowClient", Registry)


def refusing(text: str) -> None:
    if text != "trees":
        raise ValueError("the model lacks served features: amount_brl_value")


def test_a_version_whose_load_failed_is_tried_again(registry) -> None:  # noqa: ANN001
    attempts = []

    def flaky_load(ref: serving.ModelRef) -> str:
        attempts.append(ref.version)
        if len(attempts) == 1:
            raise OSError("artifact download timed out")
        return "trees"

    watcher = serving.ModelWatcher("http://registry", "pix-fraud", "champion", 0, load=flaky_load, check=refusing)
    assert watcher.refresh() is False and "could not be loaded" in watcher.last_error and watcher.version is None
    assert watcher.refresh() is True and watcher.version == "8" and watcher.last_error is None
    assert attempts == ["8", "8"] and watcher.text == "trees"


def test_a_version_that_does_not_fit_the_features_is_refused_for_good(registry) -> None:  # noqa: ANN001
    attempts = []

    def load(ref: serving.ModelRef) -> str:
        attempts.append(ref.version)
        return "other trees"

    watcher = serving.ModelWatcher("http://registry", "pix-fraud", "champion", 0, load=load, check=refusing)
    assert watcher.refresh() is False and "refused: the model lacks served features" in watcher.last_error
    assert watcher.refresh() is False and "refused" in watcher.last_error
    assert attempts == ["8"] and watcher.version is None


class NoChampion(Registry):
    def get_model_version_by_alias(self, name: str, alias: str) -> SimpleNamespace:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        raise MlflowException(f"Registered model alias {alias} not found.", INVALID_PARAMETER_VALUE)


def test_no_champion_is_quiet_for_a_new_query_and_an_error_for_one_that_scored_before(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import mlflow

    monkeypatch.setattr(mlflow, "MlflowClient", NoChampion)
    new_query = serving.ModelWatcher("http://registry", "pix-fraud", "champion", check_interval_s=0)
    assert new_query.refresh() is False and new_query.last_error is None  # rules alone until a first model
    restarted = serving.ModelWatcher("http://registry", "pix-fraud", "champion", check_interval_s=0)
    restarted.expected_version = "7"  # the checkpoint's last plan scored with v7: the alias went missing
    assert restarted.refresh() is False and restarted.version is None
    assert restarted.last_error == (
        "pix-fraud@champion does not exist, though the query scored with version 7 before it started:"
        " deciding with the rules alone"
    )
