"""Altar's money rules, each defined once: pure functions on integers in
minor units (no I/O, no models). Services, selectors, admin views and the
benchmark call these; a second copy of any rule is a bug.

Rounding is round-half-up in exact decimal arithmetic, as API.md fixes for
the commission.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from tenants.validators import STRIPE_MAX_AMOUNT, stripe_min_charge


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def commission_for(*, amount_cents: int, bps: int) -> int:
    """The platform's commission on an amount: round-half-up(amount * bps / 10000)."""
    return round_half_up(Decimal(amount_cents) * bps / 10000)


def commission_refunded_for(*, commission_cents: int, refunded_cents: int, paid_cents: int) -> int:
    """How much of the commission is given back once `refunded_cents` of
    `paid_cents` went back to the couple: in proportion, so a full refund
    returns all of it and nothing refunded returns nothing. Stripe reverses
    the application fee the same way (refund_application_fee=true)."""
    if not paid_cents or not refunded_cents:
        return 0
    return round_half_up(Decimal(commission_cents) * min(refunded_cents, paid_cents) / paid_cents)


def refundable_cents(*, paid_cents: int, refunded_cents: int, reserved_cents: int) -> int:
    """What may still be refunded: paid, less what was refunded, less what
    refunds already asked for (in flight at Stripe) will take."""
    return max(0, paid_cents - refunded_cents - reserved_cents)


def package_line_cents(*, amount_cents: int, add_on_cents: list[int]) -> int:
    """The package's line on the Checkout Session: the total fixed at
    checkout less the add-on lines, so the lines always add up to the total."""
    return amount_cents - sum(add_on_cents)


def stripe_amount_problem(*, amount_cents: int, currency: str) -> str | None:
    """Why Stripe would refuse to charge this amount, as a code
    (`amount_too_small`, `amount_too_large`), or None when it would not.
    A zero total is refused too: Altar always takes a payment to confirm."""
    if amount_cents > STRIPE_MAX_AMOUNT:
        return "amount_too_large"
    if amount_cents < stripe_min_charge(currency):
        return "amount_too_small"
    return None


def policy_refund_percent(*, tiers: list[tuple[int, int]], days_before: int) -> int:
    """The percentage a cancellation policy gives back when the couple
    cancels `days_before` days before the wedding: the tier with the
    largest notice (days) the cancellation still meets; 0 when none does.
    `tiers` is [(days_before, refund_percent)] in any order."""
    met = [(days, percent) for days, percent in tiers if days_before >= days]
    return max(met)[1] if met else 0


def policy_refund_cents(
    *,
    tiers: list[tuple[int, int]],
    days_before: int,
    paid_cents: int,
    refunded_cents: int,
    non_refundable_cents: int = 0,
) -> int:
    """What a cancellation under the policy refunds: the tier's percentage
    (round-half-up) of what the couple has paid and still has with the
    business (paid less refunded, and less any non-refundable deposit).
    `refunded_cents` counts refunds made and in flight. Never more than
    what is left of the payment, never negative."""
    kept = max(0, paid_cents - refunded_cents)
    base = max(0, kept - non_refundable_cents)
    percent = policy_refund_percent(tiers=tiers, days_before=days_before)
    return min(kept, round_half_up(Decimal(base) * percent / 100))


def date_change_settlement(
    *, amount_before_cents: int, amount_after_cents: int, fee_cents: int, refundable_cents: int
) -> tuple[int, int]:
    """(refund, due) when a booking moves to a date whose price is
    `amount_after_cents`: the price difference plus the change fee, netted.
    A net decrease is refunded (never more than is left of the payment); a
    net increase is due from the couple."""
    net = amount_after_cents - amount_before_cents + fee_cents
    if net < 0:
        return min(-net, refundable_cents), 0
    return 0, net
