"""Label maturity and the train | gap | test split on event time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pixguard.model.settings import TrainingSettings
from pixguard.model.training_set import GAP, IMMATURE, TEST, TRAIN, split_of, split_windows

AS_OF = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_windows_end_at_the_maturity_horizon_and_leave_a_gap() -> None:
    w = split_windows(AS_OF, TrainingSettings(label_maturity_days=10, test_days=5, gap_days=1))
    assert w.horizon == AS_OF - timedelta(days=10)
    assert w.test_start == AS_OF - timedelta(days=15)
    assert w.train_end == AS_OF - timedelta(days=16)
    assert w.train_start is None


def test_no_transaction_after_the_maturity_horizon_is_used() -> None:
    w = split_windows(AS_OF, TrainingSettings(label_maturity_days=10, test_days=5, gap_days=1))
    assert split_of(w.horizon, w) == IMMATURE  # the horizon itself is excluded
    assert split_of(AS_OF - timedelta(days=3), w) == IMMATURE
    assert split_of(w.horizon - timedelta(seconds=1), w) == TEST
    assert split_of(w.test_start, w) == TEST
    assert split_of(w.test_start - timedelta(seconds=1), w) == GAP
    assert split_of(w.train_end, w) == GAP
    assert split_of(w.train_end - timedelta(seconds=1), w) == TRAIN
    assert split_of(datetime(2020, 1, 1, tzinfo=UTC), w) == TRAIN


def test_a_bounded_training_window_drops_older_rows() -> None:
    w = split_windows(AS_OF, TrainingSettings(label_maturity_days=7, test_days=3, gap_days=0, train_days=14))
    assert w.train_end == w.test_start  # no gap
    assert split_of(w.train_start, w) == TRAIN
    assert split_of(w.train_start - timedelta(seconds=1), w) == "before_train"


def test_labels_are_known_up_to_the_newest_report_received_not_a_report_time_ahead_of_it(spark) -> None:  # noqa: ANN001
    from pixguard.model.training_set import default_as_of

    decisions = spark.createDataFrame(
        [("E1", datetime(2026, 11, 20, 12, tzinfo=UTC))], "end_to_end_id string, event_time timestamp"
    )
    label_schema = "end_to_end_id string, reported_at timestamp, received_at timestamp"
    received = datetime(2026, 11, 21, 9, tzinfo=UTC)
    labels = spark.createDataFrame(
        [
            ("E1", datetime(2026, 11, 21, 8, tzinfo=UTC), datetime(2026, 11, 21, 8, tzinfo=UTC)),
            ("E2", datetime(2027, 2, 1, tzinfo=UTC), received),  # a replayed report, dated months ahead
        ],
        label_schema,
    )
    assert default_as_of(decisions, labels) == received
    on_time = labels.where("end_to_end_id = 'E1'")
    assert default_as_of(decisions, on_time) == datetime(2026, 11, 21, 8, tzinfo=UTC)
    assert default_as_of(decisions, on_time.drop("received_at")) == datetime(2026, 11, 21, 8, tzinfo=UTC)
    assert default_as_of(decisions, labels.limit(0)) == datetime(2026, 11, 20, 12, tzinfo=UTC)


def test_a_report_dated_ahead_is_a_label_from_when_it_was_received(spark) -> None:  # noqa: ANN001
    from pixguard.model.training_set import LABEL, label_known_at, labelled

    received = datetime(2026, 11, 21, 9, tzinfo=UTC)
    labels = spark.createDataFrame(
        [("E1", datetime(2027, 2, 1, tzinfo=UTC), received)],
        "end_to_end_id string, reported_at timestamp, received_at timestamp",
    )
    assert labels.select(label_known_at(labels).alias("t")).first().t.astimezone(UTC) == received
    decided = spark.createDataFrame(
        [("E1", datetime(2026, 11, 20, 12, tzinfo=UTC), 150.75, False, "NATURAL", "NATURAL", "KEY", False, [])],
        "end_to_end_id string, decided_at timestamp, amount_brl double, is_night boolean, payer_person_type string,"
        " payee_person_type string, initiation_type string, payee_dict_marked boolean, rule_hits array<string>",
    )
    (row,) = labelled(decided, labels, as_of=received).select(LABEL).collect()
    assert row[LABEL] == 1  # known at its arrival, not months later
    (row,) = labelled(decided, labels, as_of=datetime(2026, 11, 21, 8, tzinfo=UTC)).select(LABEL).collect()
    assert row[LABEL] == 0  # not yet received then
