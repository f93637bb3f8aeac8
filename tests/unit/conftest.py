import pytest

# Integration fixtures point PIXGUARD_* at the test stack for the whole session; unit tests must
# see none of it, whatever order they run in.
_STACK_VARIABLES = [
    "PIXGUARD_TARGET",
    "PIXGUARD_HOME",
    "PIXGUARD_PROJECT_ROOT",
    "PIXGUARD_KAFKA_PORT",
    "PIXGUARD_KAFKA_CONTROLLER_PORT",
    "PIXGUARD_MLFLOW_PORT",
    "PIXGUARD_AIRFLOW_PORT",
]


@pytest.fixture(autouse=True)
def _no_stack_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _STACK_VARIABLES:
        monkeypatch.delenv(name, raising=False)
