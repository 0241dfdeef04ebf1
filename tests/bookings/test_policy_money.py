"""The cancellation policy's money rule (bookings.money.policy_refund_cents),
as a property: for random policies, payments and cancel days the refund is
the policy's rule, never more than what is left of the payment, and the
commission goes back in proportion (bookings.money.commission_refunded_for)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from bookings import money

tiers_strategy = st.lists(
    st.tuples(st.integers(0, 400), st.integers(0, 100)),
    max_size=6,
    unique_by=lambda tier: tier[0],
)


@st.composite
def payments(draw):
    """(paid, refunded so far, non-refundable deposit), as a payment plan
    leaves them: refunds and the deposit never exceed what was paid."""
    paid = draw(st.integers(0, 99_999_999))
    refunded = draw(st.integers(0, paid))
    deposit = draw(st.integers(0, paid))
    return paid, refunded, deposit


def reference_refund(tiers, days_before, paid, refunded, deposit) -> int:
    """The policy written out the slow way: the tier with the most notice
    that the cancellation still meets gives its percentage of what the
    couple still has with the business, less the non-refundable deposit."""
    percent = 0
    best_days = -1
    for days, tier_percent in tiers:
        if days <= days_before and days > best_days:
            best_days, percent = days, tier_percent
    kept = paid - refunded
    base = max(0, kept - deposit)
    exact = Decimal(base) * Decimal(percent) / Decimal(100)
    return min(kept, int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP)))


@given(
    tiers=tiers_strategy,
    days_before=st.integers(-30, 800),
    payment=payments(),
    bps=st.integers(0, 3000),
)
def test_policy_refund_is_the_rule_never_exceeds_what_was_paid_and_commission_follows(
    tiers, days_before, payment, bps
):
    paid, refunded, deposit = payment

    refund = money.policy_refund_cents(
        tiers=tiers,
        days_before=days_before,
        paid_cents=paid,
        refunded_cents=refunded,
        non_refundable_cents=deposit,
    )

    assert refund == reference_refund(tiers, days_before, paid, refunded, deposit)
    assert 0 <= refund <= paid - refunded
    assert refund <= max(0, paid - refunded - deposit)
    # Commission: reversed in proportion to everything refunded after this.
    commission = money.commission_for(amount_cents=paid, bps=bps)
    before = money.commission_refunded_for(
        commission_cents=commission, refunded_cents=refunded, paid_cents=paid
    )
    after = money.commission_refunded_for(
        commission_cents=commission, refunded_cents=refunded + refund, paid_cents=paid
    )
    assert before <= after <= commission
    if paid:
        exact = Decimal(commission) * (refunded + refund) / paid
        assert after == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if refund == paid - refunded and paid:
        assert after == commission  # all of the payment back: all of the commission


@given(tiers=tiers_strategy, payment=payments(), earlier=st.integers(0, 800))
def test_cancelling_earlier_never_refunds_less_under_a_monotonic_policy(tiers, payment, earlier):
    # Policies as the admin accepts them (bookings.agreements.tiers_validate):
    # more notice never gives a smaller percentage.
    ordered = sorted(tiers)
    percents = sorted(p for _, p in ordered)
    monotonic = [(days, percents[i]) for i, (days, _) in enumerate(ordered)]
    paid, refunded, deposit = payment

    def refund(days_before: int) -> int:
        return money.policy_refund_cents(
            tiers=monotonic,
            days_before=days_before,
            paid_cents=paid,
            refunded_cents=refunded,
            non_refundable_cents=deposit,
        )

    assert refund(earlier + 1) >= refund(earlier)


def test_policy_examples():
    tiers = [(180, 100), (60, 50), (0, 0)]
    kwargs = {"tiers": tiers, "paid_cents": 200_001, "refunded_cents": 0}

    assert money.policy_refund_cents(days_before=180, **kwargs) == 200_001
    assert money.policy_refund_cents(days_before=179, **kwargs) == 100_001  # half up
    assert money.policy_refund_cents(days_before=60, **kwargs) == 100_001
    assert money.policy_refund_cents(days_before=59, **kwargs) == 0
    assert money.policy_refund_cents(days_before=-1, **kwargs) == 0
    assert money.policy_refund_cents(days_before=200, non_refundable_cents=50_000, **kwargs) == (
        150_001
    )
    assert money.policy_refund_percent(tiers=[], days_before=999) == 0
