"""Key age and DICT marks joined from the reference tables, on a local SparkSession."""

from __future__ import annotations

from datetime import UTC, datetime

from pixguard.features.reference import reference_lookups, with_calendar_features, with_reference_features

PAYMENT_TIME = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def payments(spark, rows: list[tuple]):  # noqa: ANN001, ANN201
    columns = "end_to_end_id string, event_time timestamp, payee_key string, payee_document string, "
    columns += "payee_ispb string, payee_branch string, payee_account string"
    return spark.createDataFrame(rows, columns)


def test_key_age_and_marks_count_only_what_existed_before_the_payment(spark) -> None:  # noqa: ANN001
    df = payments(
        spark,
        [
            ("old-key", PAYMENT_TIME, "k-old", "11111111111", "1", "0001", "10"),
            ("new-key-marked-doc", PAYMENT_TIME, "k-new", "22222222222", "1", "0001", "20"),
            ("account-marked-later", PAYMENT_TIME, None, "33333333333", "1", "0001", "30"),
            ("unknown-key", PAYMENT_TIME, "k-unknown", "44444444444", "1", "0001", "40"),
        ],
    )
    registry = spark.createDataFrame(
        [
            ("k-old", datetime(2026, 11, 15, 12, 0, tzinfo=UTC)),
            ("k-old", datetime(2026, 11, 20, 12, 0, tzinfo=UTC)),  # re-registered: the age counts from the first
            ("k-new", datetime(2026, 11, 25, 6, 0, tzinfo=UTC)),
        ],
        "key string, created_at timestamp",
    )
    marks = spark.createDataFrame(
        [
            ("22222222222", datetime(2026, 11, 24, 9, 0, tzinfo=UTC)),  # the payee's document, before the payment
            ("1:0001:30", datetime(2026, 11, 25, 13, 0, tzinfo=UTC)),  # the account, but after the payment
        ],
        "marked_value string, marked_at timestamp",
    )
    rows = {r.end_to_end_id: r for r in with_reference_features(df, reference_lookups(registry, marks)).collect()}

    assert rows["old-key"].payee_key_age_days == 10.0
    assert rows["new-key-marked-doc"].payee_key_age_days == 0.25
    assert rows["account-marked-later"].payee_key_age_days is None
    assert rows["unknown-key"].payee_key_age_days is None
    assert [rows[e].payee_dict_marked for e in ("old-key", "new-key-marked-doc", "account-marked-later")] == [
        False,
        True,
        False,
    ]
    assert len(rows) == 4  # the joins neither drop nor repeat a payment


def test_without_reference_tables_every_payment_is_unmarked_with_unknown_key_age(spark) -> None:  # noqa: ANN001
    df = payments(spark, [("p", PAYMENT_TIME, "k", "11111111111", "1", "0001", "10")])
    row = with_reference_features(df, reference_lookups(None, None)).collect()[0]
    assert row.payee_key_age_days is None and row.payee_dict_marked is False


def test_night_is_read_on_the_brasilia_clock(spark) -> None:  # noqa: ANN001
    df = payments(
        spark,
        [
            ("utc-22h", datetime(2026, 11, 25, 22, 0, tzinfo=UTC), "k", "1", "1", "1", "1"),  # 19:00 in Brasília
            ("utc-23h30", datetime(2026, 11, 25, 23, 30, tzinfo=UTC), "k", "1", "1", "1", "1"),  # 20:30
            ("utc-09h", datetime(2026, 11, 25, 9, 0, tzinfo=UTC), "k", "1", "1", "1", "1"),  # 06:00
        ],
    )
    rows = {r.end_to_end_id: r for r in with_calendar_features(df).collect()}
    assert (rows["utc-22h"].local_hour, rows["utc-22h"].is_night) == (19, False)
    assert (rows["utc-23h30"].local_hour, rows["utc-23h30"].is_night) == (20, True)
    assert (rows["utc-09h"].local_hour, rows["utc-09h"].is_night) == (6, False)
