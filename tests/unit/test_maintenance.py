"""Maintenance steps on tables shaped as the stream lands them (local Spark and Delta, no services)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.orchestration.maintenance import compact, validate_table
from pixguard.stream.raw import as_kafka_records, to_raw_records
from pixguard.stream.validate import parse_transactions
from tests.unit.test_validate import encode, good_message, kafka_rows

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def landed(spark, tmp_path: Path) -> str:  # noqa: ANN001
    """A transactions_raw table as raw_ingest writes it: two valid payments and one malformed record."""
    values = [
        encode(good_message(end_to_end_id="E60746948202611251159AAAA0000001")),
        encode(good_message(end_to_end_id="E60746948202611251159AAAA0000002", amount_brl=25.0)),
        b"{not json",
    ]
    path = str(tmp_path / "transactions_raw")
    to_raw_records(kafka_rows(spark, values)).write.format("delta").save(path)
    return path


def test_landed_records_parse_as_the_stream_parsed_them(spark) -> None:  # noqa: ANN001
    values = [encode(good_message(end_to_end_id="E60746948202611251159AAAA0000001")), b"{not json"]
    direct = parse_transactions(kafka_rows(spark, values))
    relanded = parse_transactions(as_kafka_records(to_raw_records(kafka_rows(spark, values))))
    assert relanded.columns == direct.columns
    assert relanded.exceptAll(direct).count() == 0 and direct.exceptAll(relanded).count() == 0


def test_the_landing_is_validated_against_the_contract(spark, landed: str) -> None:  # noqa: ANN001
    result = validate_table(spark, PROJECT_ROOT, "transactions_raw", landed)
    assert result["enforced"] is False
    assert result["success"] is False  # the malformed record breaks the contract, and is reported
    assert result["failed"], result


def test_z_order_on_a_column_the_table_lacks_is_refused_naming_the_key(spark, landed: str) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match=r"orchestration\.zorder_by\.transactions_raw names \['timestamp'\]") as err:
        compact(spark, landed, ["timestamp"], "transactions_raw")
    assert "conf/streaming_config.yaml" in str(err.value) and "kafka_timestamp" in str(err.value)


def test_z_order_by_the_landing_time(spark, landed: str) -> None:  # noqa: ANN001
    assert compact(spark, landed, ["kafka_timestamp"], "transactions_raw") == "OPTIMIZE ZORDER BY (kafka_timestamp)"
