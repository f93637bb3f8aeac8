"""The demo counts this run's payments apart from those an earlier run left undecided in Kafka."""

from datetime import UTC, datetime

from pixguard.cli.demo import RunTally

SINCE = datetime(2026, 11, 27, 13, 48, tzinfo=UTC)


def _decision(e2e: str, event_time: str, kind: str = "APPROVE") -> dict:
    return {"end_to_end_id": e2e, "event_time": event_time, "decision": kind}


def test_a_payment_of_this_run_counts_once_even_when_a_replay_publishes_it_again() -> None:
    tally = RunTally(since=SINCE)
    assert tally.decision(_decision("E1", "2026-11-27T13:48:00.000Z", "BLOCK")) is True
    assert tally.decision(_decision("E1", "2026-11-27T13:48:00.000Z", "BLOCK")) is False
    assert tally.decision(_decision("E2", "2026-11-27T13:49:30.250Z")) is True
    assert tally.decisions == {"BLOCK": 1, "APPROVE": 1}
    assert tally.settled == 2 and not tally.earlier


def test_payments_an_earlier_run_left_behind_are_counted_apart() -> None:
    tally = RunTally(since=SINCE)
    assert tally.decision(_decision("E0", "2026-11-27T00:42:10.881Z", "REVIEW")) is False
    assert tally.decision(_decision("E0", "2026-11-27T00:42:10.881Z", "REVIEW")) is False  # replayed
    assert tally.decision(_decision("E9", "2026-11-27T13:47:59.999Z")) is False
    assert tally.decisions == {} and tally.settled == 0
    assert tally.earlier == {"E0", "E9"}


def test_a_quarantined_record_belongs_to_the_run_it_reached_kafka_in() -> None:
    tally = RunTally(since=SINCE)
    tally.dead_letter({"partition": 1, "offset": 7, "kafka_timestamp": "2026-11-27T13:50:00.000Z"})
    tally.dead_letter({"partition": 1, "offset": 7, "kafka_timestamp": "2026-11-27T13:50:00.000Z"})
    tally.dead_letter({"partition": 0, "offset": 3, "kafka_timestamp": "2026-11-27T00:41:00.000Z"})
    assert tally.dead_letters == {(1, 7)}
    assert tally.earlier == {"0:3"}
    assert tally.settled == 1
