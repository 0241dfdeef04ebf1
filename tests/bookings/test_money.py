"""The money rules (bookings/money.py), each pinned once."""

from __future__ import annotations

import pytest

from bookings import money


def test_commission_rounds_half_up():
    assert money.commission_for(amount_cents=162_345, bps=1000) == 16_235  # 16234.5 -> up
    assert money.commission_for(amount_cents=162_344, bps=1000) == 16_234  # 16234.4 -> down
    assert money.commission_for(amount_cents=99_999_999, bps=5000) == 50_000_000
    assert money.commission_for(amount_cents=0, bps=1000) == 0


@pytest.mark.parametrize(
    ("refunded", "expected"),
    [(0, 0), (40_000, 4_000), (81_173, 8_118), (162_345, 16_235), (200_000, 16_235)],
)
def test_commission_is_given_back_in_proportion_to_the_refund(refunded, expected):
    assert (
        money.commission_refunded_for(
            commission_cents=16_235, refunded_cents=refunded, paid_cents=162_345
        )
        == expected
    )


def test_nothing_paid_gives_no_commission_back():
    assert money.commission_refunded_for(commission_cents=100, refunded_cents=0, paid_cents=0) == 0


def test_refundable_is_paid_less_refunded_less_refunds_in_flight():
    assert money.refundable_cents(paid_cents=1000, refunded_cents=300, reserved_cents=200) == 500
    assert money.refundable_cents(paid_cents=1000, refunded_cents=600, reserved_cents=600) == 0


def test_package_line_is_the_total_less_the_add_on_lines():
    assert money.package_line_cents(amount_cents=162_345, add_on_cents=[12_345]) == 150_000


@pytest.mark.parametrize(
    ("amount", "currency", "problem"),
    [
        (50, "usd", None),
        (49, "usd", "amount_too_small"),
        (0, "usd", "amount_too_small"),
        (29, "gbp", "amount_too_small"),
        (30, "gbp", None),
        (49, "jpy", "amount_too_small"),
        (99_999_999, "usd", None),
        (100_000_000, "usd", "amount_too_large"),
        (100_000_000, "jpy", "amount_too_large"),
    ],
)
def test_stripe_amount_limits(amount, currency, problem):
    assert money.stripe_amount_problem(amount_cents=amount, currency=currency) == problem


# --- payment plans (issue 13): property tests over random amounts ------------

import datetime as dt  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tenants.validators import STRIPE_MAX_AMOUNT  # noqa: E402

plans = st.one_of(
    st.builds(
        lambda p: {"kind": "deposit", "deposit_percent": p, "balance_days_before": 30},
        st.integers(1, 99),
    ),
    st.builds(
        lambda c: {"kind": "deposit", "deposit_cents": c, "balance_days_before": 30},
        st.integers(1, STRIPE_MAX_AMOUNT),
    ),
)


@settings(max_examples=1000, deadline=None)
@given(
    amount=st.integers(50, STRIPE_MAX_AMOUNT),
    bps=st.integers(0, 5000),
    plan=plans,
    refunded=st.tuples(st.floats(0, 1), st.floats(0, 1)),
)
def test_split_commission_adds_up_exactly_and_refunds_reverse_it_per_payment(
    amount, bps, plan, refunded
):
    today = dt.date(2026, 1, 1)
    split = money.plan_split(
        amount_cents=amount, currency="usd", plan=plan, event_date=dt.date(2026, 6, 1), today=today
    )
    commission = money.commission_for(amount_cents=amount, bps=bps)
    deposit_fee, balance_fee = money.payment_fees(
        commission_cents=commission, amount_cents=amount, deposit_cents=split.due_now_cents
    )

    assert split.due_now_cents + split.balance_cents == amount
    assert deposit_fee + balance_fee == commission
    assert 0 <= deposit_fee <= split.due_now_cents
    assert 0 <= balance_fee <= split.balance_cents or (balance_fee == 0 and split.pays_in_full)
    if not split.pays_in_full:
        assert split.due_now_cents >= 50 and split.balance_cents >= 50
    # Full refunds give the whole commission back; partial ones in proportion
    # per payment, never more than the payment's fee.
    payments = [(split.due_now_cents, deposit_fee), (split.balance_cents, balance_fee)]
    full = money.ledger_totals([(a, f, a) for a, f in payments if a])
    assert (full.refunded_cents, full.commission_refunded_cents) == (amount, commission)
    partial = money.ledger_totals(
        [(a, f, int(a * share)) for (a, f), share in zip(payments, refunded, strict=True) if a]
    )
    assert 0 <= partial.commission_refunded_cents <= commission
    assert partial.paid_cents == amount


@settings(max_examples=300, deadline=None)
@given(
    amount=st.integers(0, 10**7),
    holdings=st.lists(st.integers(0, 10**6), min_size=1, max_size=4),
)
def test_refund_allocation_takes_most_recent_first_never_above_a_payment(amount, holdings):
    ids = list(range(len(holdings)))
    wanted = min(amount, sum(holdings))
    out = money.refund_allocation(
        amount_cents=wanted, holdings=list(zip(ids, holdings, strict=True))
    )

    assert sum(cents for _, cents in out) == wanted
    taken = dict(out)
    assert all(0 < taken[i] <= holdings[i] for i in taken)
    # A payment gives only once the ones before it (more recent) are exhausted.
    for i in taken:
        assert all(taken.get(j, 0) == holdings[j] for j in range(i))


def test_a_booking_after_the_balance_would_be_due_pays_in_full():
    plan = {"kind": "deposit", "deposit_percent": 30, "balance_days_before": 30}
    wedding = dt.date(2026, 6, 30)
    on_time = money.plan_split(
        amount_cents=10_000,
        currency="usd",
        plan=plan,
        event_date=wedding,
        today=dt.date(2026, 5, 30),
    )
    late = money.plan_split(
        amount_cents=10_000,
        currency="usd",
        plan=plan,
        event_date=wedding,
        today=dt.date(2026, 5, 31),
    )
    assert (on_time.due_now_cents, on_time.balance_due_on) == (3000, dt.date(2026, 5, 31))
    assert (late.due_now_cents, late.balance_cents, late.balance_due_on) == (10_000, 0, None)


# --- refund preview: what a refund does, as the ledger will count it --------------

P = money.LedgerPayment


@pytest.mark.parametrize(
    ("refund", "payments", "expected"),
    [
        # USD, one payment of 1,234.56 with 123.46 commission; refund 900.00:
        # 123.46 * 900 / 1234.56 = 90.0048... -> 90.00 back; kept
        # 1234.56 - 900.00 - (123.46 - 90.00) = 301.10.
        (90_000, [P(123_456, 12_346, 0, True)], (90_000, 0, 9_000, 30_110)),
        # Deposit 300.00 (fee 30.00) then balance 700.00 (fee 70.00), newest
        # first: 800.00 takes all the balance and 100.00 of the deposit.
        (
            80_000,
            [P(70_000, 7_000, 0, True), P(30_000, 3_000, 0, True)],
            (80_000, 0, 8_000, 18_000),
        ),
        # 200.00 already on its way back: this refund returns only its own share.
        (30_000, [P(100_000, 10_000, 20_000, True)], (30_000, 0, 3_000, 45_000)),
        # An offline payment is not refunded through Stripe: 100.00 short.
        (
            60_000,
            [P(40_000, 4_000, 0, False), P(60_000, 6_000, 10_000, True)],
            (50_000, 10_000, 5_000, 36_000),
        ),
        # JPY (no minor unit): 123,457 paid, 12.5 % commission 15,432; refund
        # 50,001: 15432 * 50001 / 123457 = 6250.07... -> 6,250; kept
        # 123457 - 50001 - (15432 - 6250) = 64,274.
        (50_001, [P(123_457, 15_432, 0, True)], (50_001, 0, 6_250, 64_274)),
        # Nothing refunded: the business keeps what was paid less commission.
        (0, [P(123_456, 12_346, 0, True)], (0, 0, 0, 111_110)),
    ],
)
def test_refund_preview_follows_the_ledger_payment_by_payment(refund, payments, expected):
    preview = money.refund_preview(refund_cents=refund, payments=payments)

    assert (
        preview.refund_cents,
        preview.short_cents,
        preview.commission_returned_cents,
        preview.kept_cents,
    ) == expected


def test_refund_preview_commission_matches_what_ledger_totals_then_count():
    # A refund split over two payments with uneven fees: each returns its own
    # share, rounded per payment, exactly as ledger_totals will count it.
    payments = [P(70_001, 7_003, 0, True), P(30_001, 2_999, 0, True)]

    preview = money.refund_preview(refund_cents=85_000, payments=payments)

    after = money.ledger_totals([(70_001, 7_003, 70_001), (30_001, 2_999, 14_999)])
    assert preview.commission_refunded_after_cents == after.commission_refunded_cents == 8_502
    assert preview.commission_returned_cents == 8_502


@pytest.mark.parametrize(("deposit_refundable", "expected"), [(True, 100_000), (False, 70_000)])
def test_staff_full_refund_keeps_a_non_refundable_deposit(deposit_refundable, expected):
    assert (
        money.staff_full_refund_cents(
            refundable_cents=100_000, deposit_cents=30_000, deposit_refundable=deposit_refundable
        )
        == expected
    )
