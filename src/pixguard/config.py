"""Typed configuration: `bundle.yaml` (targets, jobs) and `conf/streaming_config.yaml`.

YAML is read once, at the edge, into frozen pydantic models; everything downstream receives
these objects. Errors always name the file and the dotted key, and what was expected.

Interpolation, resolved only inside the selected target so that a `cluster` secret that is unset
on a laptop never breaks the `local` target:
- `${var.NAME}`: a bundle variable (default in `variables:`, overridable per target),
- `${env:NAME}` / `${env:NAME:-default}`: an environment variable (unset and no default is an error),
- `${project_root}`, `${state_dir}`, `${cache_dir}`: where the bundle lives, its git-ignored state
  folder, and the download cache (Maven jars) that survives `down --purge`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

BUNDLE_FILE = "bundle.yaml"
STREAMING_CONFIG_FILE = "conf/streaming_config.yaml"
STATE_DIR_ENV = "PIXGUARD_HOME"
CACHE_DIR_ENV = "PIXGUARD_CACHE"
TARGET_ENV = "PIXGUARD_TARGET"

_PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")


ModelT = TypeVar("ModelT", bound=BaseModel)


class ConfigError(ValueError):
    """A configuration problem, located by file and dotted key."""

    def __init__(self, file: Path | str, key: str, problem: str) -> None:
        self.file = str(file)
        self.key = key
        self.problem = problem
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {problem}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---------------------------------------------------------------- bundle.yaml: targets


class SparkSettings(_Model):
    master: str
    deploy_mode: Literal["client", "cluster"] = "client"
    # The interpreter the executors run Python with: a path valid on every node, with the locked
    # dependencies installed. Unset on a local master, where the executors are the driver's own.
    executor_python: str | None = None
    conf: dict[str, str] = Field(default_factory=dict)

    @property
    def is_local(self) -> bool:
        return self.master.startswith("local")

    @model_validator(mode="after")
    def _deploy_mode_fits_master(self) -> SparkSettings:
        # spark-submit refuses it only when the job is submitted, long after the config was written.
        if self.deploy_mode == "cluster" and self.master.startswith("spark://"):
            raise ValueError(
                "deploy_mode 'cluster' is not available for Python applications on a standalone "
                "master (spark://); use 'client' there (YARN and Kubernetes take both)"
            )
        return self

    @field_validator("conf", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        # Spark conf values are strings; YAML gives ints and bools for "4" and "true".
        if isinstance(value, dict):
            return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in value.items()}
        return value


class KafkaSettings(_Model):
    bootstrap_servers: str
    embedded: bool = False
    broker_port: int = 9092
    controller_port: int = 9093
    heap_mb: int = 1024
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = Field(default=None, repr=False)
    ssl_ca_location: str | None = None

    @property
    def uses_sasl(self) -> bool:
        """SASL settings given with a protocol that does not authenticate are left out: clients warn
        about them, or refuse to start."""
        return bool(self.sasl_mechanism) and self.security_protocol.startswith("SASL_")

    def client_config(self) -> dict[str, str]:
        """librdkafka (confluent-kafka) settings."""
        conf = {"bootstrap.servers": self.bootstrap_servers, "security.protocol": self.security_protocol}
        if self.uses_sasl:
            conf |= {
                "sasl.mechanism": self.sasl_mechanism,
                "sasl.username": self.sasl_username or "",
                "sasl.password": self.sasl_password or "",
            }
        if self.ssl_ca_location:
            conf["ssl.ca.location"] = self.ssl_ca_location
        return conf

    def spark_options(self) -> dict[str, str]:
        """Options for Spark's Kafka source and sink (`kafka.`-prefixed Java client settings)."""
        options = {
            "kafka.bootstrap.servers": self.bootstrap_servers,
            "kafka.security.protocol": self.security_protocol,
        }
        if self.uses_sasl:
            module = (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if self.sasl_mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            options["kafka.sasl.mechanism"] = self.sasl_mechanism
            options["kafka.sasl.jaas.config"] = (
                f'{module} required username="{self.sasl_username}" password="{self.sasl_password}";'
            )
        if self.ssl_ca_location:  # the same PEM file librdkafka reads; the Java client assumes JKS unless told
            options["kafka.ssl.truststore.location"] = self.ssl_ca_location
            options["kafka.ssl.truststore.type"] = "PEM"
        return options


class MlflowSettings(_Model):
    tracking_uri: str
    embedded: bool = False
    port: int = 5000
    registered_model: str = "pix-fraud"


class AirflowSettings(_Model):
    embedded: bool = False
    port: int = 8080
    parallelism: int = 4
    spark_conn_id: str = "spark_pixguard"
    admin_user: str = "admin"
    admin_password: str = Field(default="admin", repr=False)


class Target(_Model):
    """One deployment target, all placeholders resolved."""

    name: str
    storage_root: str
    checkpoint_root: str
    spark: SparkSettings
    kafka: KafkaSettings
    mlflow: MlflowSettings
    airflow: AirflowSettings = AirflowSettings()

    def table_path(self, table: str) -> str:
        return f"{self.storage_root.rstrip('/')}/{table}"

    def checkpoint_path(self, query_name: str) -> str:
        return f"{self.checkpoint_root.rstrip('/')}/{query_name}"


# ---------------------------------------------------------------- bundle.yaml: jobs


class Job(_Model):
    entry_point: str
    description: str = ""
    schedule: str | None = None
    retries: int = Field(default=2, ge=0)
    retry_delay_s: int = Field(default=60, ge=0)
    timeout_s: int | None = Field(default=None, gt=0)
    spark_conf: dict[str, str] = Field(default_factory=dict)
    args: list[str] = Field(default_factory=list)
    # The OS priority (nice) its driver is started with, and on the local target its executors (they
    # are threads of the driver's JVM): 0 is normal, 19 the lowest.
    nice: int = Field(default=0, ge=0, le=19)

    def launch_command(self, command: list[str]) -> list[str]:
        """The command that starts this job, at the job's OS priority. Its launchers start it in a
        session of its own: where the kernel groups processes by session (autogroups, on by default in
        most distributions' kernels), each session gets an even share of the cores whatever the nice
        of its processes, so the session's autogroup is given the job's nice too."""
        if not self.nice:
            return list(command)
        lower = f'{{ echo {self.nice} > /proc/self/autogroup; }} 2>/dev/null; exec nice -n {self.nice} "$@"'
        return ["sh", "-c", lower, "sh", *command]

    @field_validator("spark_conf", mode="before")
    @classmethod
    def _stringify(cls, value: Any) -> Any:
        return SparkSettings._stringify(value)


class Bundle(_Model):
    name: str
    project_root: Path
    state_dir: Path
    cache_dir: Path
    target: Target
    jobs: dict[str, Job]

    def job(self, name: str) -> Job:
        try:
            return self.jobs[name]
        except KeyError:
            raise ConfigError(BUNDLE_FILE, f"jobs.{name}", f"no such job (have: {sorted(self.jobs)})") from None

    def spark_conf_for(self, job_name: str) -> dict[str, str]:
        """The target's Spark settings overlaid with the job's own."""
        return {**self.target.spark.conf, **self.job(job_name).spark_conf}


# ---------------------------------------------------------------- conf/streaming_config.yaml


class TopicSettings(_Model):
    name: str
    partitions: int = Field(default=1, ge=1)
    retention_ms: int = Field(default=7 * 24 * 3600 * 1000, ge=-1)


class Topics(_Model):
    transactions: TopicSettings
    decisions: TopicSettings
    alerts: TopicSettings
    dlq: TopicSettings
    # Every outcome of every consumed record, with every served feature: what the archive writes to
    # Delta (decisions, quarantine). Keyed by the source record, so its repeats share a partition.
    decision_log: TopicSettings
    fraud_reports: TopicSettings
    dict_keys: TopicSettings  # the DICT mirror: key registrations -> key_registry
    dict_marks: TopicSettings  # the DICT mirror: fraud marks -> dict_marks
    ops_alerts: TopicSettings
    smoke: TopicSettings  # the connectors' check writes here, never to the payments

    def all(self) -> list[TopicSettings]:
        return [getattr(self, name) for name in type(self).model_fields]


class SourceSettings(_Model):
    starting_offsets: Literal["earliest", "latest"] = "earliest"
    max_offsets_per_trigger: int = Field(default=200_000, gt=0)
    fail_on_data_loss: bool = True


class Tables(_Model):
    transactions_raw: str = "transactions_raw"
    decisions: str = "decisions"
    quarantine: str = "quarantine"
    fraud_labels: str = "fraud_labels"
    stream_metrics: str = "stream_metrics"
    key_registry: str = "key_registry"
    dict_marks: str = "dict_marks"
    transactions_truth: str = "transactions_truth"
    smoke: str = "smoke_landing"


# How long the feature operators hold a payer's end_to_end_ids behind its newest payment
# (Windows.DuplicateHorizonMs in src/jvm): a repeat is only caught within it.
DUPLICATE_HORIZON_S = 90_000


class ValidationSettings(_Model):
    max_event_age_s: int = Field(default=86_400, gt=0)
    max_clock_skew_s: int = Field(default=300, ge=0)

    @model_validator(mode="after")
    def _repeats_stay_detectable(self) -> ValidationSettings:
        # A valid payment can be max_event_age_s old while the payer's newest one lies max_clock_skew_s
        # ahead: beyond the horizon, its id is forgotten and a resend would be decided again.
        if self.max_event_age_s + self.max_clock_skew_s > DUPLICATE_HORIZON_S:
            raise ValueError(
                f"max_event_age_s + max_clock_skew_s ({self.max_event_age_s + self.max_clock_skew_s}) must not"
                f" exceed {DUPLICATE_HORIZON_S} s, how long end_to_end_ids are held for duplicate detection"
            )
        return self

    @property
    def watermark_delay_s(self) -> int:
        """Wider than any accepted event age, so the stateful operators never drop a valid row as late."""
        return self.max_event_age_s + self.max_clock_skew_s + 3_600


class ScoringSettings(_Model):
    review_threshold: float = Field(default=0.5, ge=0, le=1)
    block_threshold: float = Field(default=0.9, ge=0, le=1)
    model_check_interval_s: float = Field(default=5.0, ge=0)
    top_reasons: int = Field(default=3, ge=0, le=10)

    @model_validator(mode="after")
    def _ordered(self) -> ScoringSettings:
        if self.block_threshold < self.review_threshold:
            raise ValueError("block_threshold must not be below review_threshold")
        return self


class RulesSettings(_Model):
    path: str = "conf/rules.yaml"
    check_interval_s: float = Field(default=5.0, ge=0)


# Metrics an alert rule may watch; pixguard.monitoring.signals computes each of them (a unit test
# pins the two lists together). Rates and latencies are read over the batches of `rate_window_s`.
AlertMetric = Literal[
    "decision_latency_p50_ms",
    "decision_latency_p95_ms",
    "decision_latency_p99_ms",
    "quarantine_rate",
    "review_rate",
    "block_rate",
    "kafka_lag_records",
    "kafka_lag_growth_records",
    "seconds_since_progress",
    "batch_duration_ms",
    "input_rows_per_second",
    "processed_rows_per_second",
    "state_rows",
    "state_memory_bytes",
    "model_reload_failing",
    "rules_reload_failing",
]


class AlertRule(_Model):
    """Fires once when `metric comparison threshold` has held for `for_s`; resolves once when it has
    been false for `resolve_after_s` (which damps flapping around the threshold)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    metric: AlertMetric
    comparison: Literal[">", ">=", "<", "<=", "outside"]
    threshold: float | tuple[float, float]
    for_s: float = Field(default=0.0, ge=0)
    resolve_after_s: float = Field(default=0.0, ge=0)
    severity: Literal["info", "warning", "critical"] = "warning"
    summary: str = ""

    @model_validator(mode="after")
    def _threshold_fits_comparison(self) -> AlertRule:
        band = isinstance(self.threshold, tuple)
        if self.comparison == "outside" and not (band and self.threshold[0] <= self.threshold[1]):
            raise ValueError("comparison 'outside' needs threshold: [low, high] with low <= high")
        if self.comparison != "outside" and band:
            raise ValueError(f"comparison '{self.comparison}' needs a single number as threshold")
        return self


class MonitoringSettings(_Model):
    enabled: bool = True
    metrics_host: str = "0.0.0.0"  # the driver's Prometheus endpoint; scrapers run on other hosts
    metrics_port: int = Field(default=9108, ge=0, le=65535)  # the streaming job's; 0: any free port (tests)
    archive_metrics_port: int = Field(default=9109, ge=0, le=65535)  # the archive job's
    evaluation_interval_s: float = Field(default=5.0, gt=0)
    rate_window_s: float = Field(default=60.0, ge=0)
    rate_min_rows: int = Field(default=20, ge=1)  # fewer rows in the window: rates unknown, rate rules hold
    store_interval_s: float = Field(default=30.0, gt=0)
    webhook_url: str | None = None
    webhook_url_env: str | None = None  # name of an environment variable holding the URL (tokens stay out of files)
    alerts: list[AlertRule] = Field(default_factory=list)

    @field_validator("alerts")
    @classmethod
    def _unique_names(cls, rules: list[AlertRule]) -> list[AlertRule]:
        names = [rule.name for rule in rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"alert names must be unique (repeated: {repeated})")
        return rules

    def resolved_webhook_url(self) -> str | None:
        if self.webhook_url_env:
            return os.environ.get(self.webhook_url_env) or self.webhook_url
        return self.webhook_url


class OrchestrationSettings(_Model):
    """What Airflow needs to run the stream and keep the tables (pixguard.orchestration: the supervisor,
    Delta maintenance). Schedules, retries and timeouts stay in bundle.yaml."""

    supervisor_poll_interval_s: float = Field(default=5.0, gt=0)
    stall_timeout_s: float = Field(default=300.0, gt=0)  # no committed batch for this long while input waits
    stop_timeout_s: float = Field(default=30.0, gt=0)  # SIGTERM, then SIGKILL of the job's process group
    alert_after_failures: int = Field(default=2, ge=1)  # consecutive deaths/stalls before an ops alert
    max_consecutive_failures: int = Field(default=5, ge=1)  # restarts in a row; one more failure and it gives up
    # Wait before restart n of a run of failures: restart_backoff_s * 2^(n-1), at most restart_backoff_max_s.
    restart_backoff_s: float = Field(default=10.0, ge=0)
    restart_backoff_max_s: float = Field(default=300.0, ge=0)
    # Delta's retention check (kept on) refuses less than 168 h at 03:00; refused here, when the file loads.
    vacuum_retention_hours: int = Field(default=168, ge=168)
    zorder_by: dict[str, list[str]] = Field(
        default_factory=lambda: {"decisions": ["payer_document", "event_time"], "transactions_raw": ["kafka_timestamp"]}
    )

    @model_validator(mode="after")
    def _alert_before_giving_up(self) -> OrchestrationSettings:
        if self.alert_after_failures > self.max_consecutive_failures + 1:
            raise ValueError(
                f"alert_after_failures ({self.alert_after_failures}) must not exceed max_consecutive_failures + 1"
                f" ({self.max_consecutive_failures + 1}): the supervisor would give up without ever alerting"
            )
        return self


class StreamingConfig(_Model):
    topics: Topics
    source: SourceSettings = SourceSettings()
    tables: Tables = Tables()
    # The hot path's micro-batch interval; 0 starts the next batch as soon as the previous one ends.
    trigger_interval_s: float = Field(default=0.0, ge=0)
    # The archive (topics -> Delta) and the DICT and label mirrors: nothing waits on them, and each
    # trigger is a Delta commit that takes cores from the hot path.
    archive_trigger_interval_s: float = Field(default=30.0, gt=0)
    validation: ValidationSettings = ValidationSettings()
    scoring: ScoringSettings = ScoringSettings()
    rules: RulesSettings = RulesSettings()
    monitoring: MonitoringSettings = MonitoringSettings()
    orchestration: OrchestrationSettings = OrchestrationSettings()


# ---------------------------------------------------------------- loading


def find_project_root(start: Path | None = None) -> Path:
    """The folder holding bundle.yaml: PIXGUARD_PROJECT_ROOT, else the nearest parent of cwd."""
    if env_root := os.environ.get("PIXGUARD_PROJECT_ROOT"):
        return Path(env_root).resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / BUNDLE_FILE).is_file():
            return folder
    raise ConfigError(BUNDLE_FILE, "", f"not found in {here} or any parent (set PIXGUARD_PROJECT_ROOT)")


def default_state_dir(project_root: Path) -> Path:
    return Path(os.environ.get(STATE_DIR_ENV, project_root / ".pixguard")).resolve()


def default_cache_dir(project_root: Path) -> Path:
    return Path(os.environ.get(CACHE_DIR_ENV, project_root / ".pixguard" / "cache")).resolve()


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(path, "", "file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(path, "", f"not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(path, "", f"expected a mapping at the top level, got {type(data).__name__}")
    return data


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)


def _validate(model: type[_Model], data: Any, file: Path | str, prefix: str, **extra: Any) -> Any:
    try:
        return model.model_validate({**data, **extra} if isinstance(data, dict) else data)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(p for p in (prefix, _dotted(error["loc"])) if p)
        got = "" if error["type"] == "missing" else f" (got {error.get('input')!r})"
        more = f" [and {exc.error_count() - 1} more problem(s)]" if exc.error_count() > 1 else ""
        raise ConfigError(file, key, f"{error['msg']}{got}{more}") from None


class _Interpolator:
    """Resolves ${...} placeholders in a YAML subtree, reporting the key of any failure."""

    def __init__(self, file: Path, variables: dict[str, Any], builtins: dict[str, str]) -> None:
        self.file, self.variables, self.builtins = file, variables, builtins

    def resolve(self, node: Any, key: str) -> Any:
        if isinstance(node, dict):
            return {k: self.resolve(v, f"{key}.{k}" if key else str(k)) for k, v in node.items()}
        if isinstance(node, list):
            return [self.resolve(v, f"{key}[{i}]") for i, v in enumerate(node)]
        if isinstance(node, str):
            return _PLACEHOLDER.sub(lambda m: self._lookup(m.group(1).strip(), key), node)
        return node

    def _lookup(self, expression: str, key: str) -> str:
        if expression.startswith("env:"):
            name, _, default = expression[4:].partition(":-")
            value = os.environ.get(name)
            if value is not None:
                return value
            if ":-" in expression:
                return default
            raise ConfigError(self.file, key, f"environment variable {name} is not set")
        if expression.startswith("var."):
            name = expression[4:]
            if name not in self.variables:
                raise ConfigError(self.file, key, f"unknown variable '{name}' (defined: {sorted(self.variables)})")
            return str(self.resolve(self.variables[name], key))
        if expression in self.builtins:
            return self.builtins[expression]
        raise ConfigError(self.file, key, f"unknown placeholder ${{{expression}}}")


def _default_target(file: Path, targets: dict[str, Any]) -> str:
    defaults = [name for name, body in targets.items() if isinstance(body, dict) and body.get("default")]
    if len(defaults) != 1:
        raise ConfigError(file, "targets", f"exactly one target must have 'default: true' (found {defaults})")
    return defaults[0]


def load_bundle(project_root: Path | None = None, target: str | None = None, state_dir: Path | None = None) -> Bundle:
    """Read bundle.yaml and resolve one target (argument, else PIXGUARD_TARGET, else the default)."""
    root = (project_root or find_project_root()).resolve()
    file = root / BUNDLE_FILE
    raw = read_yaml(file)
    for section in ("bundle", "targets", "jobs"):
        if not isinstance(raw.get(section), dict):
            raise ConfigError(file, section, "missing, or not a mapping")
    unknown = set(raw) - {"bundle", "variables", "targets", "jobs"}
    if unknown:
        raise ConfigError(
            file, sorted(unknown)[0], "unknown top-level section (expected bundle, variables, targets, jobs)"
        )
    targets: dict[str, Any] = raw["targets"]
    name = target or os.environ.get(TARGET_ENV) or _default_target(file, targets)
    if name not in targets:
        raise ConfigError(file, f"targets.{name}", f"unknown target (defined: {sorted(targets)})")

    body = dict(targets[name] or {})
    body.pop("default", None)
    variables = {k: (v.get("default") if isinstance(v, dict) else v) for k, v in (raw.get("variables") or {}).items()}
    variables |= body.pop("variables", None) or {}
    state = (state_dir or default_state_dir(root)).resolve()
    cache = default_cache_dir(root)
    builtins = {"project_root": str(root), "state_dir": str(state), "cache_dir": str(cache)}
    interpolate = _Interpolator(file, variables, builtins)
    resolved_target = interpolate.resolve(body, f"targets.{name}")
    resolved_jobs = interpolate.resolve(raw["jobs"], "jobs")

    target_model = _validate(Target, resolved_target, file, f"targets.{name}", name=name)
    jobs = {
        job_name: _validate(Job, job_body or {}, file, f"jobs.{job_name}")
        for job_name, job_body in resolved_jobs.items()
    }
    bundle_name = raw["bundle"].get("name")
    if not isinstance(bundle_name, str) or not bundle_name:
        raise ConfigError(file, "bundle.name", "a non-empty string is required")
    return Bundle(name=bundle_name, project_root=root, state_dir=state, cache_dir=cache, target=target_model, jobs=jobs)


def load_streaming_config(project_root: Path | None = None, path: Path | None = None) -> StreamingConfig:
    file = path or (project_root or find_project_root()) / STREAMING_CONFIG_FILE
    return _validate(StreamingConfig, read_yaml(file), file, "")


def load_yaml_as(model: type[ModelT], path: Path) -> ModelT:
    """Any other YAML file of the project into its typed model, with the same error messages."""
    return _validate(model, read_yaml(path), path, "")
