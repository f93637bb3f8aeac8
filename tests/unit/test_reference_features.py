"""Key age and DICT marks joined from the reference tables, on a local SparkSession."""

from __future__ import annotations

from datetime import UTC, datetime

from pixguard.features.reference import reference_lookups, with_calendar_features, with_reference_features

PAYMENT_TIME = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def payments(spark, rows: list[tuple]):  # noqa: ANN001, ANN201
    """Rows of (end_to_end_id, event_time, payee key, document, ISPB, branch, account); the payer is
    the payee's document and account with a 9 in front, unless the row gives the payer's five too."""
    payee = "payee_key string, payee_document string, payee_ispb string, payee_branch string, payee_account string"
    payer = "payer_document string, payer_ispb string, payer_branch string, payer_account string"
    full = [row if len(row) == 11 else (*row, *(f"9{v}" for v in row[3:7])) for row in rows]
    return spark.createDataFrame(full, f"end_to_end_id string, event_time timestamp, {payee}, {payer}")


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
    assert row.payee_key_age_days is None and row.payee_dict_marked is False and row.payer_dict_marked is False


def test_a_payer_marked_before_the_payment_is_flagged_on_its_document_or_its_account(spark) -> None:  # noqa: ANN001
    payee = ("k", "11111111111", "1", "0001", "10")
    df = payments(
        spark,
        [
            ("payer-doc-marked", PAYMENT_TIME, *payee, "55555555555", "2", "0002", "50"),
            ("payer-account-marked", PAYMENT_TIME, *payee, "66666666666", "2", "0002", "60"),
            ("payer-marked-later", PAYMENT_TIME, *payee, "77777777777", "2", "0002", "70"),
            ("payer-clean", PAYMENT_TIME, *payee, "88888888888", "2", "0002", "80"),
        ],
    )
    marks = spark.createDataFrame(
        [
            ("55555555555", datetime(2026, 11, 1, tzinfo=UTC)),
            ("2:0002:60", datetime(2026, 11, 25, 11, 0, tzinfo=UTC)),
            ("77777777777", datetime(2026, 11, 25, 12, 30, tzinfo=UTC)),
            ("88888888888-other", datetime(2026, 11, 1, tzinfo=UTC)),
        ],
        "marked_value string, marked_at timestamp",
    )
    rows = {r.end_to_end_id: r for r in with_reference_features(df, reference_lookups(None, marks)).collect()}

    assert {e: r.payer_dict_marked for e, r in rows.items()} == {
        "payer-doc-marked": True,
        "payer-account-marked": True,
        "payer-marked-later": False,
        "payer-clean": False,
    }
    assert not any(r.payee_dict_marked for r in rows.values())  # a payer's mark is not the payee's


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
