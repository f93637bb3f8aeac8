"""The archive keeps the first outcome published for each source record: a hot path batch replayed
after a crash publishes its outcomes again, and those are marked as repeats, not archived twice."""

from __future__ import annotations

import json
from datetime import datetime

from pixguard.stream.archive import decided_rows, decision_log_schema, first_outcomes, quarantined_rows


def log_record(source_offset: int, log_offset: int, outcome: dict) -> tuple:
    """A pix.decision-log Kafka record: keyed by its source record, on log partition 0."""
    key = f"pix.transactions/1/{source_offset}".encode()
    return (
        key,
        json.dumps(outcome).encode(),
        "pix.decision-log",
        0,
        log_offset,
        datetime(2026, 11, 25, 12, 0, log_offset),
    )


def test_only_the_first_outcome_of_each_source_record_is_archived(spark) -> None:  # noqa: ANN001
    decided = {"outcome": "decided", "end_to_end_id": "E1", "decision": "APPROVE", "offset": 10}
    again = {**decided, "decision": "REVIEW"}  # a replay decided otherwise: consumers saw the first
    bad = {"outcome": "quarantined", "reason": "malformed_json", "reasons": ["malformed_json"], "offset": 11}
    records = [
        log_record(10, 0, decided),
        log_record(11, 1, bad),
        log_record(12, 2, {**decided, "end_to_end_id": "E2", "offset": 12}),
        log_record(10, 3, again),  # the replay
        log_record(11, 4, bad),
    ]
    schema = "key binary, value binary, topic string, partition int, offset long, timestamp timestamp"
    outcomes = first_outcomes(spark.createDataFrame(records, schema), decision_log_schema(spark))
    marked = sorted((r.offset, r.decision, r.is_repeat) for r in outcomes.collect())
    assert marked == [
        (10, "APPROVE", False),
        (10, "REVIEW", True),
        (11, None, False),
        (11, None, True),
        (12, "APPROVE", False),
    ]
    assert sorted(r.end_to_end_id for r in decided_rows(outcomes, ["end_to_end_id", "decision"]).collect()) == [
        "E1",
        "E2",
    ]
    assert [r.reason for r in quarantined_rows(outcomes).collect()] == ["malformed_json"]


def test_offset_ranges_hold_few_numbers_however_many_offsets(spark) -> None:  # noqa: ANN001
    ranges_class = spark._jvm.pixguard.archive.OffsetRanges
    ranges = ranges_class.empty()
    for offset in [5, 7, 6, 1, 2, 3, 4, 9]:
        assert not ranges.contains(offset)
        ranges.add(offset)
    assert ranges.contains(1) and ranges.contains(7) and not ranges.contains(8) and not ranges.contains(0)
    assert ranges.ranges() == 2  # [1, 8) and [9, 10)
    ranges.add(8)
    assert ranges.ranges() == 1 and ranges_class.decode(ranges.encode()).contains(9)
