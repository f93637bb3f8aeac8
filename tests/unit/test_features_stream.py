"""Point-in-time features through the hot path's real keyed-state operators (transformWithState, RocksDB)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pixguard.domain.schema import TRANSACTION_FIELDS
from tests.hot_path_helpers import by_end_to_end_id, run_hot_path
from tests.unit.test_validate import good_message, valid_cnpj, valid_cpf


@pytest.fixture
def run_batches(spark, bundle, streaming_config):  # noqa: ANN001, ANN201
    """Each inner list of payments becomes one micro-batch; called again with the same tmp_path, the
    query resumes from its checkpoint. `history`: payments decided before, seeding the state. Returns,
    by end_to_end_id, each outcome's fields, `is_duplicate` telling a repeat's."""

    def run(tmp_path: Path, batches: list[list[dict]], history: list[dict] | None = None) -> dict[str, list[dict]]:
        seeds = None if history is None else seeds_of(spark, history)
        outcomes = run_hot_path(
            spark, bundle, streaming_config, tmp_path, [[("pix.transactions", m) for m in b] for b in batches], seeds
        )
        for outcome in outcomes:
            outcome["is_duplicate"] = outcome.get("reason") == "duplicate_end_to_end_id"
        return by_end_to_end_id(outcomes)

    return run


def seeds_of(spark, history: list[dict]):  # noqa: ANN001, ANN201
    from pixguard.domain.schema import DICT_MARK_FIELDS, KEY_REGISTRY_FIELDS, ddl_of
    from pixguard.infra.jvm import empty_frame
    from pixguard.stream.seed import PAST_PAYMENT_COLUMNS, Seeds

    ddl = ", ".join(f"{n} {k}" for n, k in TRANSACTION_FIELDS.items())
    payments = spark.createDataFrame([parsed(m) for m in history], ddl).select(*PAST_PAYMENT_COLUMNS)
    return Seeds(
        payments, empty_frame(spark, ddl_of(KEY_REGISTRY_FIELDS)), empty_frame(spark, ddl_of(DICT_MARK_FIELDS))
    )


def parsed(message: dict) -> tuple:
    """A message as the decisions table holds it (typed columns)."""
    from datetime import datetime
    from decimal import Decimal

    def typed(name: str, kind: str):  # noqa: ANN202
        value = message.get(name)
        if value is None:
            return None
        if kind == "timestamp":
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        return Decimal(str(value)) if kind.startswith("decimal") else value

    return tuple(typed(n, k) for n, k in TRANSACTION_FIELDS.items())


def e2e(seq: int) -> str:
    return f"E60746948202611251159{seq:011d}"


def payment(seq: int, minute: int, amount: float, payee: str = "11222333000181", device: str = "dev-1", **kw) -> dict:
    return good_message(
        end_to_end_id=e2e(seq),
        event_time=f"2026-11-25T10:{minute:02d}:00Z",
        amount_brl=amount,
        payee_document=payee,
        payer_device_id=device,
        **kw,
    )


def test_five_payments_of_one_payer_in_one_micro_batch_see_only_their_past(run_batches, tmp_path: Path) -> None:  # noqa: ANN001
    # Shuffled on purpose: the processor orders a key's rows by event time.
    batch = [
        payment(3, 3, 300.0, payee=valid_cnpj(2)),
        payment(1, 1, 100.0),
        payment(5, 30, 5000.0, payee=valid_cnpj(3), device="dev-NEW"),
        payment(2, 2, 100.0),
        payment(4, 4, 100.0),
    ]
    rows = run_batches(tmp_path, [batch])
    f = {e2e: r[0] for e2e, r in rows.items()}
    first, second, third, fourth, fifth = (f[e2e(i)] for i in range(1, 6))

    assert first["payer_history_tx_count"] == 0 and first["payer_tx_count_10m"] == 0
    assert first["payer_seconds_since_previous_tx"] is None and first["payer_amount_ratio_to_mean"] is None
    assert first["payer_first_payment_to_payee"] == 1 and first["payer_new_device"] == 0

    assert second["payer_tx_count_10m"] == 1 and second["payer_amount_sum_10m"] == 100.0
    assert second["payer_seconds_since_previous_tx"] == 60.0
    assert second["payer_first_payment_to_payee"] == 0 and second["payer_amount_ratio_to_mean"] == 1.0

    assert third["payer_tx_count_10m"] == 2 and third["payer_first_payment_to_payee"] == 1
    assert third["payer_amount_ratio_to_mean"] == 3.0
    assert fourth["payer_tx_count_1h"] == 3 and fourth["payer_amount_sum_1h"] == 500.0
    assert fourth["payer_distinct_payees_24h"] == 2

    # 26 minutes later: outside the 10-minute window, inside the hour; new payee and new device.
    assert fifth["payer_tx_count_10m"] == 0 and fifth["payer_tx_count_1h"] == 4
    assert fifth["payer_amount_sum_1h"] == 600.0 and fifth["payer_seconds_since_previous_tx"] == 1560.0
    assert fifth["payer_first_payment_to_payee"] == 1 and fifth["payer_new_device"] == 1
    assert fifth["payer_amount_ratio_to_mean"] == pytest.approx(5000 / 150, rel=1e-4)

    # Payee side: 11222333000181 received #1, #2, #4 from the same payer.
    assert fourth["payee_inbound_count_10m"] == 2 and fourth["payee_distinct_payers_1h"] == 1
    assert all(not r["is_duplicate"] for r in f.values())


def test_history_carries_over_batches_and_duplicates_are_flagged_not_dropped(run_batches, tmp_path: Path) -> None:  # noqa: ANN001
    mule = valid_cnpj(4)
    first = [payment(10 + i, 10 + i, 250.0, payee=mule, payer_document=valid_cpf(10 + i)) for i in range(3)]
    second = [
        payment(20, 20, 250.0, payee=mule, payer_document="11144477735"),
        payment(10, 10, 250.0, payee=mule, payer_document=valid_cpf(10)),  # a replay of the first one
    ]
    rows = run_batches(tmp_path, [first, second])
    newest = rows[e2e(20)][0]
    assert newest["payee_inbound_count_1h"] == 3 and newest["payee_distinct_payers_1h"] == 3
    assert newest["payee_inbound_amount_1h"] == 750.0
    repeats = rows[e2e(10)]
    assert [r["is_duplicate"] for r in repeats] == [False, True]
    assert repeats[1].get("payer_tx_count_1h") is None and repeats[1]["outcome"] == "quarantined"


def test_a_payment_reaching_a_later_micro_batch_sees_only_what_came_before_it(run_batches, tmp_path: Path) -> None:  # noqa: ANN001
    """Two accounts of one payer on two Kafka partitions, one lagging: 09:50 and 10:10 arrive after
    10:20 was decided. Their features must not count 10:20, nor know its payee or its device."""
    shop, friend = "11222333000181", valid_cnpj(2)
    on_time = [payment(1, 0, 100.0, payee=shop), payment(3, 20, 1000.0, payee=friend, device="dev-NEW")]
    late = [payment(0, 0, 50.0, payee=shop), payment(2, 10, 400.0, payee=friend, device="dev-NEW")]
    late[0]["event_time"] = "2026-11-25T09:50:00Z"
    after = [payment(4, 30, 300.0, payee=friend, device="dev-NEW")]
    rows = run_batches(tmp_path, [on_time, late, after])
    f = {e: r[0] for e, r in rows.items()}
    earliest, ten_past, next_one = f[e2e(0)], f[e2e(2)], f[e2e(4)]

    assert earliest["payer_history_tx_count"] == 0 and earliest["payer_seconds_since_previous_tx"] is None
    assert earliest["payer_amount_ratio_to_mean"] is None and earliest["payer_tx_count_1h"] == 0
    assert earliest["payer_first_payment_to_payee"] == 1  # the shop was first paid at 10:00
    assert earliest["payer_new_device"] == 0  # a payer's first payment is on no "new" device

    assert ten_past["payer_history_tx_count"] == 2  # 09:50 and 10:00, not 10:20
    assert ten_past["payer_tx_count_10m"] == 1 and ten_past["payer_tx_count_1h"] == 2
    assert ten_past["payer_amount_sum_1h"] == 150.0
    assert ten_past["payer_amount_ratio_to_mean"] == pytest.approx(400 / 75, abs=1e-4)
    assert ten_past["payer_seconds_since_previous_tx"] == 600.0  # since 10:00 (not -600, to 10:20)
    assert ten_past["payer_first_payment_to_payee"] == 1 and ten_past["payer_new_device"] == 1

    # In order again: everything before it counts, the late ones included.
    assert next_one["payer_history_tx_count"] == 4 and next_one["payer_tx_count_1h"] == 4
    assert next_one["payer_amount_ratio_to_mean"] == pytest.approx(300 / 387.5, abs=1e-4)
    assert next_one["payer_seconds_since_previous_tx"] == 600.0
    assert next_one["payer_first_payment_to_payee"] == 0 and next_one["payer_new_device"] == 0


def test_a_payer_paying_thousands_of_times_a_day_still_has_every_repeat_flagged(run_batches, tmp_path: Path) -> None:  # noqa: ANN001
    """A payroll run: 6,000 payments of one payer in 100 minutes, then the first and the last sent again."""
    from datetime import datetime, timedelta

    start = datetime(2026, 11, 25, 8, 0)

    def paid(seq: int) -> dict:
        at = (start + timedelta(seconds=seq)).isoformat() + "Z"
        return good_message(
            end_to_end_id=e2e(seq), event_time=at, amount_brl=1500.0, payee_document=valid_cnpj(100 + seq)
        )

    payroll = [paid(seq) for seq in range(6000)]
    rows = run_batches(tmp_path, [payroll, [paid(0), paid(5999), paid(6000)]])

    assert [r["is_duplicate"] for r in rows[e2e(0)]] == [False, True]
    assert [r["is_duplicate"] for r in rows[e2e(5999)]] == [False, True]
    assert [r["is_duplicate"] for r in rows[e2e(6000)]] == [False]


def test_a_quiet_payer_is_forgotten_after_the_state_ttl_and_an_active_one_is_kept(run_batches, tmp_path: Path) -> None:  # noqa: ANN001
    from datetime import datetime, timedelta

    from pixguard.features.behaviour import STATE_TTL_MS

    start = datetime(2026, 1, 1, 12, 0)
    ttl_days = STATE_TTL_MS // 86_400_000

    def paid(seq: int, payer: str, day: int) -> dict:
        return good_message(
            end_to_end_id=e2e(seq),
            event_time=(start + timedelta(days=day)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            payer_document=payer,
        )

    quiet, active, other = "52998224725", "11144477735", "39053344705"
    rows = run_batches(
        tmp_path,
        [
            [paid(1, quiet, 0), paid(2, active, 0)],
            [paid(3, active, ttl_days - 30)],  # active again before its first timer fires
            # The watermark moves past both first timers here; they fire in the next batch, after its
            # rows (a batch runs on the watermark of the batch before).
            [paid(4, other, ttl_days + 10)],
            [paid(7, other, ttl_days + 10)],
            [paid(5, quiet, ttl_days + 10), paid(6, active, ttl_days + 10)],
        ],
    )
    first_of = {e2e[-2:]: r[0] for e2e, r in rows.items()}
    assert first_of["05"]["payer_history_tx_count"] == 0  # quiet for longer than the TTL: forgotten
    assert first_of["06"]["payer_history_tx_count"] == 2  # its timer was re-armed, its history kept


def test_a_new_query_serves_the_decided_history_as_the_past_of_its_first_payments(run_batches, tmp_path: Path) -> None:  # noqa: ANN001
    history = [
        payment(1, 1, 100.0),
        payment(2, 2, 300.0, payee=valid_cnpj(2)),
        payment(3, 3, 200.0, payer_document="11144477735"),  # another payer, same payee as #1
    ]
    live = [payment(4, 5, 250.0), payment(1, 1, 100.0)]  # a new payment, and #1 seen again
    rows = run_batches(tmp_path, [live], history=history)
    new = rows[e2e(4)][0]
    assert new["payer_history_tx_count"] == 2 and new["payer_tx_count_10m"] == 2
    assert new["payer_amount_sum_10m"] == 400.0 and new["payer_amount_ratio_to_mean"] == 1.25
    assert new["payer_seconds_since_previous_tx"] == 180.0
    assert new["payer_first_payment_to_payee"] == 0 and new["payer_distinct_payees_24h"] == 2
    assert new["payee_inbound_count_10m"] == 2 and new["payee_distinct_payers_1h"] == 2
    assert new["payee_inbound_amount_1h"] == 300.0
    assert rows[e2e(1)][0]["is_duplicate"] is True  # decided already


def test_a_query_resuming_from_its_checkpoint_keeps_its_state_and_ignores_the_history(
    run_batches, tmp_path: Path
) -> None:  # noqa: ANN001
    history = [payment(1, 1, 100.0), payment(2, 2, 100.0)]
    run_batches(tmp_path, [[payment(3, 3, 100.0)]], history=history)
    resumed = run_batches(tmp_path, [[payment(4, 4, 100.0)]], history=history)  # e.g. after a restart
    fourth = resumed[e2e(4)][0]
    assert fourth["payer_history_tx_count"] == 3  # two from the history, once, and #3
    assert fourth["payee_inbound_count_10m"] == 3


def test_payments_at_the_same_millisecond_are_each_others_past_in_end_to_end_id_order(
    run_batches, tmp_path: Path
) -> None:  # noqa: ANN001
    # A burst sent with one timestamp (a second-precision clock, an API batch): ties are ordered by
    # end_to_end_id, and every feature agrees on which of them came first.
    burst = [payment(seq, 5, 100.0) for seq in (3, 1, 2)]
    rows = run_batches(tmp_path, [[payment(0, 1, 100.0), *burst]])
    third = rows[e2e(3)][0]
    assert third["payer_history_tx_count"] == 3
    assert third["payer_tx_count_10m"] == 3 and third["payer_amount_sum_10m"] == 300.0
    assert third["payer_seconds_since_previous_tx"] == 0.0
    assert third["payee_inbound_count_10m"] == 3 and third["payee_inbound_amount_1h"] == 300.0
    first_of_burst = rows[e2e(1)][0]
    assert first_of_burst["payer_tx_count_10m"] == 1 and first_of_burst["payer_seconds_since_previous_tx"] == 240.0
    assert first_of_burst["payee_inbound_count_10m"] == 1
