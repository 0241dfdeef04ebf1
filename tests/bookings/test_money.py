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
