"""Config loading: valid files resolve; each kind of bad input fails naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.config import ConfigError, load_bundle, load_streaming_config

PROJECT_ROOT = Path(__file__).resolve().parents[2]

MINIMAL_BUNDLE = """
bundle: {name: demo}
variables:
  master: {default: "local[1]"}
targets:
  local:
    default: true
    storage_root: ${state_dir}/data
    checkpoint_root: ${state_dir}/checkpoints
    spark: {master: "${var.master}", conf: {spark.sql.shuffle.partitions: 3, spark.ui.enabled: false}}
    kafka: {bootstrap_servers: "127.0.0.1:9092", embedded: true}
    mlflow: {tracking_uri: "http://127.0.0.1:5000"}
  cluster:
    storage_root: ${env:PIXGUARD_TEST_STORAGE}
    checkpoint_root: ${env:PIXGUARD_TEST_STORAGE}/_checkpoints
    spark: {master: "${env:PIXGUARD_TEST_MASTER:-yarn}", deploy_mode: cluster}
    kafka:
      bootstrap_servers: ${env:PIXGUARD_TEST_BROKERS:-broker-1:9093}
      security_protocol: SASL_SSL
      sasl_mechanism: SCRAM-SHA-512
      sasl_username: svc
      sasl_password: ${env:PIXGUARD_TEST_KAFKA_PASSWORD:-secret}
    mlflow: {tracking_uri: "https://mlflow.example"}
jobs:
  streaming: {entry_point: jobs/streaming.py, retries: 3, spark_conf: {spark.sql.shuffle.partitions: 8}}
"""


def write_bundle(tmp_path: Path, text: str) -> Path:
    (tmp_path / "bundle.yaml").write_text(text)
    return tmp_path


def test_project_bundle_and_config_are_valid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PIXGUARD_HOME", str(tmp_path))
    bundle = load_bundle(PROJECT_ROOT, target="local")
    assert bundle.target.name == "local"
    assert bundle.target.kafka.embedded and bundle.target.mlflow.embedded
    assert bundle.target.storage_root == f"{tmp_path}/data"
    assert "delta-spark_4.2_2.13" in bundle.target.spark.conf["spark.jars.packages"]
    assert {"streaming", "maintenance", "retrain"} <= set(bundle.jobs)
    config = load_streaming_config(PROJECT_ROOT)
    assert config.topics.transactions.name == "pix.transactions"
    assert len(config.topics.all()) == 10 and config.topics.dict_keys.name == "pix.dict-keys"


def test_variables_env_defaults_and_job_conf_overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXGUARD_TEST_STORAGE", "s3a://lake/pix")
    monkeypatch.delenv("PIXGUARD_TEST_BROKERS", raising=False)
    root = write_bundle(tmp_path, MINIMAL_BUNDLE)
    local = load_bundle(root, state_dir=tmp_path / "state")
    assert local.target.spark.master == "local[1]"
    assert local.target.spark.conf == {"spark.sql.shuffle.partitions": "3", "spark.ui.enabled": "false"}
    assert local.spark_conf_for("streaming")["spark.sql.shuffle.partitions"] == "8"
    assert local.target.table_path("decisions") == f"{tmp_path / 'state'}/data/decisions"

    cluster = load_bundle(root, target="cluster")
    assert cluster.target.storage_root == "s3a://lake/pix"
    assert cluster.target.kafka.bootstrap_servers == "broker-1:9093"
    options = cluster.target.kafka.spark_options()
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert 'username="svc" password="secret"' in options["kafka.sasl.jaas.config"]
    assert "secret" not in repr(cluster.target.kafka)


def test_sasl_settings_apply_only_to_a_sasl_protocol() -> None:
    from pixguard.config import KafkaSettings

    kafka = KafkaSettings(
        bootstrap_servers="broker-1:9092", security_protocol="PLAINTEXT", sasl_mechanism="PLAIN", sasl_username="svc"
    )
    assert not any(key.startswith("sasl.") for key in kafka.client_config())
    assert not any(key.startswith("kafka.sasl.") for key in kafka.spark_options())
    secured = kafka.model_copy(update={"security_protocol": "SASL_PLAINTEXT"})
    assert secured.client_config()["sasl.mechanism"] == "PLAIN"
    assert "PlainLoginModule" in secured.spark_options()["kafka.sasl.jaas.config"]


def test_one_ca_file_serves_both_kafka_clients() -> None:
    from pixguard.config import KafkaSettings

    kafka = KafkaSettings(bootstrap_servers="broker-1:9093", security_protocol="SSL", ssl_ca_location="/etc/pix/ca.pem")
    assert kafka.client_config()["ssl.ca.location"] == "/etc/pix/ca.pem"
    options = kafka.spark_options()
    assert options["kafka.ssl.truststore.location"] == "/etc/pix/ca.pem"
    assert options["kafka.ssl.truststore.type"] == "PEM"  # else the Java client reads the PEM file as JKS


def test_target_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXGUARD_TARGET", "cluster")
    monkeypatch.setenv("PIXGUARD_TEST_STORAGE", "/data")
    assert load_bundle(write_bundle(tmp_path, MINIMAL_BUNDLE)).target.name == "cluster"


def error_of(tmp_path: Path, text: str, target: str | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_bundle(write_bundle(tmp_path, text), target=target)
    return info.value


def test_missing_key_is_named(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL_BUNDLE.replace('    mlflow: {tracking_uri: "http://127.0.0.1:5000"}\n', "", 1))
    assert error.file.endswith("bundle.yaml")
    assert error.key == "targets.local.mlflow"
    assert "Field required" in str(error)


def test_wrong_type_is_named_with_the_value(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL_BUNDLE.replace("retries: 3", "retries: often"))
    assert error.key == "jobs.streaming.retries"
    assert "integer" in error.problem and "'often'" in error.problem


def test_unknown_target_lists_the_defined_ones(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL_BUNDLE, target="staging")
    assert error.key == "targets.staging"
    assert "unknown target" in str(error) and "cluster" in str(error) and "local" in str(error)


def test_unset_environment_variable_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIXGUARD_TEST_STORAGE", raising=False)
    error = error_of(tmp_path, MINIMAL_BUNDLE, target="cluster")
    assert error.key == "targets.cluster.storage_root"
    assert "PIXGUARD_TEST_STORAGE is not set" in str(error)


def test_misspelled_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXGUARD_TEST_STORAGE", "/data")
    error = error_of(tmp_path, MINIMAL_BUNDLE.replace("deploy_mode: cluster", "deploy_mod: cluster"), "cluster")
    assert error.key == "targets.cluster.spark.deploy_mod"
    assert "Extra inputs are not permitted" in str(error)


def test_cluster_deploy_mode_on_a_standalone_master_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXGUARD_TEST_STORAGE", "/data")
    monkeypatch.setenv("PIXGUARD_TEST_MASTER", "spark://spark-master:7077")
    error = error_of(tmp_path, MINIMAL_BUNDLE, target="cluster")
    assert error.file.endswith("bundle.yaml")
    assert error.key == "targets.cluster.spark"
    assert "standalone master" in str(error) and "'client'" in str(error)
    client = load_bundle(
        write_bundle(tmp_path, MINIMAL_BUNDLE.replace("deploy_mode: cluster", "deploy_mode: client")), target="cluster"
    )
    assert client.target.spark.master == "spark://spark-master:7077"


def test_unknown_variable_and_invalid_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIXGUARD_TEST_STORAGE", "/data")
    error = error_of(tmp_path, MINIMAL_BUNDLE.replace("${var.master}", "${var.mastr}"))
    assert error.key == "targets.local.spark.master" and "unknown variable 'mastr'" in str(error)
    error = error_of(tmp_path, MINIMAL_BUNDLE.replace("SASL_SSL", "SASL_TLS"), target="cluster")
    assert error.key == "targets.cluster.kafka.security_protocol"


def test_no_default_target_and_bad_yaml(tmp_path: Path) -> None:
    error = error_of(tmp_path, MINIMAL_BUNDLE.replace("default: true", "default: false"))
    assert error.key == "targets" and "default: true" in str(error)
    error = error_of(tmp_path, "bundle: {name: x\ntargets: [")
    assert "not valid YAML" in str(error)


def test_streaming_config_errors_name_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "streaming_config.yaml"
    text = (PROJECT_ROOT / "conf" / "streaming_config.yaml").read_text()
    path.write_text(text.replace("partitions: 2", "partitions: 0", 1))
    with pytest.raises(ConfigError) as info:
        load_streaming_config(path=path)
    assert info.value.file == str(path)
    assert info.value.key == "topics.transactions.partitions"
    assert "greater than or equal to 1" in str(info.value)
    path.write_text(text.replace("  ops_alerts:", "  ops_alert:"))
    with pytest.raises(ConfigError) as info:
        load_streaming_config(path=path)
    assert info.value.key in {"topics.ops_alerts", "topics.ops_alert"}


def test_cli_validate_exits_non_zero_naming_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:  # noqa: ANN001
    from pixguard.cli import main

    monkeypatch.setenv("PIXGUARD_PROJECT_ROOT", str(PROJECT_ROOT))
    monkeypatch.delenv("PIXGUARD_STORAGE_ROOT", raising=False)
    assert main(["bundle", "validate", "--target", "cluster"]) == 2
    assert "PIXGUARD_STORAGE_ROOT is not set" in capsys.readouterr().err
    monkeypatch.setenv("PIXGUARD_HOME", str(tmp_path))
    assert main(["bundle", "validate"]) == 0
    out = capsys.readouterr().out
    assert "name: local" in out and "pix.transactions" in out


def test_every_job_session_carries_the_feature_jar_before_the_bundle_s_own_jars(tmp_path: Path) -> None:
    from pixguard.infra.spark import FEATURES_JAR, spark_conf

    root = write_bundle(tmp_path, MINIMAL_BUNDLE.replace("spark.ui.enabled: false", "spark.jars: /opt/extra.jar"))
    bundle = load_bundle(root, state_dir=tmp_path / "state")
    with pytest.raises(FileNotFoundError, match=r"pixguard-features\.jar is missing: `make install` builds it"):
        spark_conf(bundle, "streaming")
    (root / FEATURES_JAR).parent.mkdir()
    (root / FEATURES_JAR).write_bytes(b"jar")
    assert spark_conf(bundle, "streaming")["spark.jars"] == f"{root / FEATURES_JAR},/opt/extra.jar"


def test_spark_pyspark_python_in_the_target_or_the_job_conf_wins_over_executor_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pixguard.infra.spark import executor_python

    monkeypatch.setenv("PIXGUARD_TEST_STORAGE", "s3a://lake/pix")
    cluster_spark = 'spark: {master: "${env:PIXGUARD_TEST_MASTER:-yarn}", deploy_mode: cluster}'

    def interpreter(spark: str, job_conf: str = "spark.sql.shuffle.partitions: 8") -> str | None:
        text = MINIMAL_BUNDLE.replace(cluster_spark, spark).replace("spark.sql.shuffle.partitions: 8", job_conf)
        return executor_python(load_bundle(write_bundle(tmp_path, text), target="cluster"), "streaming")

    assert interpreter("spark: {master: yarn, executor_python: /opt/py/bin/python}") == "/opt/py/bin/python"
    assert interpreter("spark: {master: yarn}") is None
    in_target = "spark: {master: yarn, executor_python: /opt/py/bin/python, conf: {spark.pyspark.python: /x/python}}"
    assert interpreter(in_target) is None
    in_job = "spark.pyspark.python: /job/python"
    assert interpreter("spark: {master: yarn, executor_python: /opt/py/bin/python}", in_job) is None


def test_an_event_age_beyond_the_duplicate_horizon_is_refused_naming_the_key(tmp_path: Path) -> None:
    from pixguard.config import DUPLICATE_HORIZON_S

    source = (PROJECT_ROOT / "conf" / "streaming_config.yaml").read_text()
    assert "max_event_age_s: 86400" in source
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "streaming_config.yaml").write_text(
        source.replace("max_event_age_s: 86400", "max_event_age_s: 172800")
    )
    with pytest.raises(ConfigError, match=rf"validation.*must not exceed {DUPLICATE_HORIZON_S} s"):
        load_streaming_config(tmp_path)


def test_a_vacuum_retention_delta_would_refuse_is_refused_when_the_file_loads(tmp_path: Path) -> None:
    source = (PROJECT_ROOT / "conf" / "streaming_config.yaml").read_text()
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "streaming_config.yaml").write_text(
        source.replace("vacuum_retention_hours: 168", "vacuum_retention_hours: 24")
    )
    with pytest.raises(ConfigError, match=r"orchestration.vacuum_retention_hours.*greater than or equal to 168"):
        load_streaming_config(tmp_path)
