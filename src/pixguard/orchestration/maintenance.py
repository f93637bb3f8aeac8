"""Delta maintenance of the tables the stream appends to (`decisions`, `transactions_raw`), run daily
by Airflow's `pix_maintenance` through `jobs/maintenance.py`:

- compact: OPTIMIZE with ZORDER BY the configured columns (or, on a table with liquid clustering,
  OPTIMIZE alone, which clusters); micro-batches leave many small files, readers pay for each one;
- vacuum: VACUUM with `orchestration.vacuum_retention_hours` (168 h by default). Delta's own retention
  check stays on: a running stream or a time-travel reader may still need a removed file;
- validate: Great Expectations on each table, with the suites in `expectations/`;
- every step records files, bytes and rows before and after (DESCRIBE DETAIL) as JSON under
  `<state_dir>/maintenance/<run id>/`, and `summarize` puts them together.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pixguard.domain.contract import TRANSACTION_CONTRACT
from pixguard.infra.quality import validate_dataframe
from pixguard.log_setup import configure_logging

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from pixguard.config import Bundle, StreamingConfig

log = logging.getLogger("pixguard.orchestration.maintenance")

MAINTAINED_TABLES = ("decisions", "transactions_raw")  # attribute names in config.tables
STEPS = ("compact", "vacuum", "validate")


@dataclass(frozen=True)
class TableDetail:
    files: int
    size_bytes: int
    rows: int
    version: int


def table_detail(spark: SparkSession, path: str) -> TableDetail:
    from delta.tables import DeltaTable

    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    version = int(DeltaTable.forPath(spark, path).history(1).select("version").first()[0])
    rows = spark.read.format("delta").load(path).count()
    return TableDetail(int(detail["numFiles"]), int(detail["sizeInBytes"]), rows, version)


def compact(spark: SparkSession, path: str, zorder_by: list[str], table: str) -> str:
    from delta.tables import DeltaTable

    from pixguard.config import STREAMING_CONFIG_FILE

    columns = spark.read.format("delta").load(path).columns
    if missing := [c for c in zorder_by if c not in columns]:
        raise ValueError(
            f"{STREAMING_CONFIG_FILE}: orchestration.zorder_by.{table} names {missing}, which {path} does not "
            f"have (its columns: {', '.join(columns)})"
        )
    clustering = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["clusteringColumns"] or []
    optimizer = DeltaTable.forPath(spark, path).optimize()
    if clustering or not zorder_by:
        optimizer.executeCompaction()
        return f"OPTIMIZE (clustered by {list(clustering)})" if clustering else "OPTIMIZE"
    usable = [c for c in zorder_by if c in stats_columns(spark, path)]
    if not usable:  # Z-ordering on columns without statistics would only rewrite files; compact instead
        log.warning("no statistics on %s in %s: plain compaction", zorder_by, path)
        optimizer.executeCompaction()
        return "OPTIMIZE"
    optimizer.executeZOrderBy(*usable)
    return f"OPTIMIZE ZORDER BY ({', '.join(usable)})"


def stats_columns(spark: SparkSession, path: str) -> set[str]:
    """Top-level columns Delta keeps min/max statistics on (Z-order needs them): the table's
    `delta.dataSkippingStatsColumns`, else its first `delta.dataSkippingNumIndexedCols` (32) columns."""
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()
    properties = detail["properties"] or {}
    names = spark.read.format("delta").load(path).columns
    if explicit := properties.get("delta.dataSkippingStatsColumns"):
        return {c.strip().split(".")[0].strip("`") for c in explicit.split(",")}
    indexed = int(properties.get("delta.dataSkippingNumIndexedCols", 32))
    return set(names if indexed < 0 else names[:indexed])


def vacuum(spark: SparkSession, path: str, retention_hours: int) -> str:
    from delta.tables import DeltaTable

    # Never turn spark.databricks.delta.retentionDurationCheck.enabled off: below the table's
    # deletedFileRetentionDuration Delta refuses, which is the protection running readers need.
    DeltaTable.forPath(spark, path).vacuum(float(retention_hours))
    return f"VACUUM RETAIN {retention_hours} HOURS"


def validate_table(spark: SparkSession, project_root: Path, table: str, path: str) -> dict[str, Any]:
    """`decisions` must keep the transaction contract (the stream decided only valid rows). The raw
    landing holds what producers sent, valid or not: its result is reported, not enforced."""
    df = spark.read.format("delta").load(path)
    enforced = table == "decisions"
    if table == "transactions_raw":
        from pixguard.stream.raw import as_kafka_records
        from pixguard.stream.validate import parse_transactions

        df = parse_transactions(as_kafka_records(df))
    report = validate_dataframe(df, project_root / TRANSACTION_CONTRACT)
    failed = [
        {"expectation": o.expectation, "column": o.column, "reason": o.reason, "unexpected": o.unexpected_count}
        for o in report.failed()
    ]
    return {"suite": report.suite, "success": report.success, "enforced": enforced, "failed": failed}


def report_dir(bundle: Bundle, run_id: str) -> Path:
    return bundle.state_dir / "maintenance" / re.sub(r"[^A-Za-z0-9_.-]", "_", run_id)


def run_step(spark: SparkSession, bundle: Bundle, config: StreamingConfig, step: str, run_id: str) -> dict[str, Any]:
    """One step over every maintained table; writes `<report dir>/<step>.json`. A table that does not
    exist yet is skipped and said so; a table that breaks its contract fails the step after the report."""
    from delta.tables import DeltaTable

    settings = config.orchestration
    results: dict[str, Any] = {}
    for table in MAINTAINED_TABLES:
        name = getattr(config.tables, table)
        path = bundle.target.table_path(name)
        if not DeltaTable.isDeltaTable(spark, path):
            results[table] = {"skipped": f"no Delta table at {path}"}
            continue
        before = table_detail(spark, path)
        entry: dict[str, Any] = {"path": path, "before": asdict(before)}
        if step == "compact":
            entry["operation"] = compact(spark, path, settings.zorder_by.get(table, []), table)
        elif step == "vacuum":
            entry["operation"] = vacuum(spark, path, settings.vacuum_retention_hours)
        elif step == "validate":
            entry["validation"] = validate_table(spark, bundle.project_root, table, path)
        else:
            raise ValueError(f"unknown maintenance step {step!r} (have {STEPS})")
        entry["after"] = asdict(table_detail(spark, path)) if step != "validate" else entry["before"]
        results[table] = entry
        log.info("%s %s: %s", step, table, json.dumps(entry, default=str))
    folder = report_dir(bundle, run_id)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{step}.json").write_text(json.dumps(results, indent=2, default=str))
    broken = [
        t for t, e in results.items() if e.get("validation", {}).get("enforced") and not e["validation"]["success"]
    ]
    if broken:
        raise ContractBroken(f"tables breaking the transaction contract: {broken}; report: {folder / f'{step}.json'}")
    return results


class ContractBroken(RuntimeError):
    pass


def summarize(bundle: Bundle, run_id: str) -> dict[str, Any]:
    """Files and bytes of each table before compaction and after vacuum, and the validation verdicts."""
    folder = report_dir(bundle, run_id)
    steps = {s: json.loads((folder / f"{s}.json").read_text()) for s in STEPS if (folder / f"{s}.json").is_file()}
    summary: dict[str, Any] = {}
    for table in MAINTAINED_TABLES:
        first = steps.get("compact", {}).get(table, {})
        last = steps.get("vacuum", {}).get(table) or first
        if "before" not in first:
            summary[table] = {"skipped": first.get("skipped", "no compaction report")}
            continue
        before, after = first["before"], last["after"]
        summary[table] = {
            "files_before": before["files"],
            "files_after": after["files"],
            "bytes_before": before["size_bytes"],
            "bytes_after": after["size_bytes"],
            "rows_before": before["rows"],
            "rows_after": after["rows"],
            "contract": steps.get("validate", {}).get(table, {}).get("validation", {}).get("success"),
        }
    (folder / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary


def maintenance_entry(argv: list[str] | None = None) -> int:
    from pixguard.config import load_bundle, load_streaming_config
    from pixguard.infra.spark import build_spark_session

    parser = argparse.ArgumentParser(description="Delta maintenance: compact, vacuum, validate")
    parser.add_argument("--target", default=None)
    parser.add_argument("--config", default=None, help="streaming config file (default: conf/streaming_config.yaml)")
    parser.add_argument("--step", choices=[*STEPS, "all"], default="all")
    parser.add_argument("--run-id", default="manual", help="names the report folder (Airflow passes its run id)")
    args = parser.parse_args(argv)
    configure_logging()
    bundle = load_bundle(target=args.target)
    config = load_streaming_config(bundle.project_root, path=Path(args.config) if args.config else None)
    spark = build_spark_session(bundle, "maintenance")
    try:
        for step in STEPS if args.step == "all" else (args.step,):
            run_step(spark, bundle, config, step, args.run_id)
    except ContractBroken as exc:
        print(exc)
        return 3
    if args.step == "all":
        print(json.dumps(summarize(bundle, args.run_id), indent=2))
    return 0
