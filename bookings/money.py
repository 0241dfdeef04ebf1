"""Altar's money rules, each defined once: pure functions on integers in
minor units (no I/O, no models). Services, selectors, admin views and the
benchmark call these; a second copy of any rule is a bug.

Rounding is round-half-up in exact decimal arithmetic, as API.md fixes for
the commission.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
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


# --- payment plans: deposit now, balance before the wedding -----------------
#
# A plan is a plain dict, as the API shows it and as a booking keeps it:
#   {"kind": "full", every other key None} (tenants.models.PAY_IN_FULL_PLAN)
#   {"kind": "deposit", "deposit_percent": 30 | None, "deposit_cents": 20000 | None,
#    "deposit_refundable": bool, "balance_days_before": 30}
# exactly one of deposit_percent / deposit_cents is set for a deposit plan.


@dataclass(frozen=True)
class PlanSplit:
    """What a booking pays when: `due_now_cents` at checkout, `balance_cents`
    on `balance_due_on` (None and 0 when it pays in full)."""

    due_now_cents: int
    balance_cents: int
    balance_due_on: dt.date | None

    @property
    def pays_in_full(self) -> bool:
        return self.balance_due_on is None


def deposit_cents_for(*, amount_cents: int, plan: dict) -> int:
    """The deposit a plan asks of a total: a percent is rounded half-up to the
    cent; a fixed amount never exceeds the total."""
    if plan.get("deposit_percent") is not None:
        return round_half_up(Decimal(amount_cents) * plan["deposit_percent"] / 100)
    return min(int(plan.get("deposit_cents") or 0), amount_cents)


def plan_split(
    *, amount_cents: int, currency: str, plan: dict, event_date: dt.date, today: dt.date
) -> PlanSplit:
    """Split a total under a plan. Pays in full when the plan says so, when a
    booking is made on or after the day the balance would be due, or when
    either part would be too small for Stripe to charge (or nothing)."""
    whole = PlanSplit(due_now_cents=amount_cents, balance_cents=0, balance_due_on=None)
    if plan.get("kind") != "deposit":
        return whole
    due_on = event_date - dt.timedelta(days=int(plan.get("balance_days_before") or 0))
    if due_on <= today:
        return whole
    deposit = deposit_cents_for(amount_cents=amount_cents, plan=plan)
    balance = amount_cents - deposit
    minimum = stripe_min_charge(currency)
    if deposit < minimum or balance < minimum:
        return whole
    return PlanSplit(due_now_cents=deposit, balance_cents=balance, balance_due_on=due_on)


def payment_fees(
    *, commission_cents: int, amount_cents: int, deposit_cents: int
) -> tuple[int, int]:
    """(deposit's application fee, balance's application fee): the deposit
    takes its share of the commission rounded half-up, the balance the rest,
    so the two always add up to the booking's commission exactly."""
    if deposit_cents >= amount_cents or not amount_cents:
        return commission_cents, 0
    deposit_fee = round_half_up(Decimal(commission_cents) * deposit_cents / amount_cents)
    return deposit_fee, commission_cents - deposit_fee


def offline_commission_cents(
    *,
    commission_cents: int,
    assigned_cents: int,
    amount_cents: int,
    total_cents: int,
    completes: bool,
) -> int:
    """An offline payment's share of the commission: in proportion to the
    total, and all that is left when it completes the price (so the shares
    of a fully paid booking add up to its commission exactly)."""
    left = max(0, commission_cents - assigned_cents)
    if completes or not total_cents:
        return left
    return min(left, round_half_up(Decimal(commission_cents) * amount_cents / total_cents))


@dataclass(frozen=True)
class LedgerTotals:
    paid_cents: int
    refunded_cents: int
    commission_refunded_cents: int


def ledger_totals(payments: list[tuple[int, int, int]]) -> LedgerTotals:
    """A booking's figures from its ledger: one (amount, application fee,
    succeeded refunds) triple per succeeded payment. Each payment's
    commission is given back in proportion to what was refunded of it."""
    return LedgerTotals(
        paid_cents=sum(amount for amount, _, _ in payments),
        refunded_cents=sum(min(refunded, amount) for amount, _, refunded in payments),
        commission_refunded_cents=sum(
            commission_refunded_for(
                commission_cents=fee, refunded_cents=refunded, paid_cents=amount
            )
            for amount, fee, refunded in payments
        ),
    )


def commission_left_cents(*, commission_cents: int, assigned_cents: int, amount_cents: int) -> int:
    """The application fee of a payment that completes the price (the
    balance, a pay link): what is left of the booking's commission once the
    payments already made took their shares, never more than the payment, so
    the shares of a fully paid booking add up to its commission exactly."""
    return min(amount_cents, max(0, commission_cents - assigned_cents))


def balance_due_cents(*, amount_cents: int, paid_cents: int, active: bool) -> int:
    """What the couple still owes: nothing once the booking is no longer active."""
    return max(0, amount_cents - paid_cents) if active else 0


def refund_allocation(
    *, amount_cents: int, holdings: list[tuple[int, int]]
) -> list[tuple[int, int]]:
    """Spread a refund over payments, most recent first: `holdings` is
    (payment id, what that payment still holds) newest first; returns
    (payment id, cents) for each payment that gives something back. Never
    takes more from a payment than it holds; the caller checked the total."""
    left = amount_cents
    out = []
    for payment_id, holds in holdings:
        if left <= 0:
            break
        take = min(left, max(0, holds))
        if take:
            out.append((payment_id, take))
            left -= take
    return out


@dataclass(frozen=True)
class LedgerPayment:
    """One succeeded payment as a refund sees it."""

    amount_cents: int
    fee_cents: int  # its application fee: its share of the commission
    refunded_cents: int  # its refunds that succeeded or are on their way
    refundable: bool  # through Stripe (staff return offline payments themselves)


@dataclass(frozen=True)
class RefundPreview:
    """What a refund does to the money once it (and any refund already on
    its way) has succeeded."""

    refund_cents: int  # to the couple: what the payments can give back of what was asked
    short_cents: int  # asked for beyond that (held by offline payments): refused
    commission_returned_cents: int  # the platform's commission given back with it
    kept_cents: int  # what the business keeps of what was paid, after commission
    refunded_after_cents: int
    commission_refunded_after_cents: int


def refund_preview(*, refund_cents: int, payments: list[LedgerPayment]) -> RefundPreview:
    """Refunding `refund_cents` over `payments` (most recent first), as
    refund_allocation spreads it and ledger_totals then counts it: each
    payment gives back its commission in proportion to what is refunded of
    it (commission_refunded_for). `refund_cents` of the answer is less than
    asked when the Stripe payments hold less (refund_reserve refuses that)."""
    takes = dict(
        refund_allocation(
            amount_cents=refund_cents,
            holdings=[
                (index, payment.amount_cents - payment.refunded_cents)
                for index, payment in enumerate(payments)
                if payment.refundable
            ],
        )
    )
    before = ledger_totals([(p.amount_cents, p.fee_cents, p.refunded_cents) for p in payments])
    after = ledger_totals(
        [
            (p.amount_cents, p.fee_cents, p.refunded_cents + takes.get(index, 0))
            for index, p in enumerate(payments)
        ]
    )
    commission_after = sum(p.fee_cents for p in payments) - after.commission_refunded_cents
    return RefundPreview(
        refund_cents=sum(takes.values()),
        short_cents=refund_cents - sum(takes.values()),
        commission_returned_cents=after.commission_refunded_cents
        - before.commission_refunded_cents,
        kept_cents=after.paid_cents - after.refunded_cents - commission_after,
        refunded_after_cents=after.refunded_cents,
        commission_refunded_after_cents=after.commission_refunded_cents,
    )


def staff_full_refund_cents(
    *, refundable_cents: int, deposit_cents: int, deposit_refundable: bool
) -> int:
    """What staff's "full refund" gives back: all that is left, less a
    deposit the plan made non-refundable."""
    if deposit_refundable:
        return refundable_cents
    return max(0, refundable_cents - deposit_cents)


# --- cancellation policy and date changes ---------------------------------


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
    *,
    amount_before_cents: int,
    amount_after_cents: int,
    fee_cents: int,
    refundable_cents: int,
    paid_for_price_cents: int,
) -> tuple[int, int]:
    """(refund, due) when a booking moves to a date whose price is
    `amount_after_cents`: the price difference plus the change fee, netted.
    A net increase is due from the couple. A net decrease lowers what the
    couple owes in all (amount_before + net); only what they have already
    paid for the price beyond that is refunded (`paid_for_price_cents`:
    paid less what earlier date changes refunded), never more than is left
    of the payment: a booking with a balance still to pay owes less on it
    instead."""
    net = amount_after_cents - amount_before_cents + fee_cents
    if net < 0:
        beyond = max(0, paid_for_price_cents - (amount_before_cents + net))
        return min(-net, refundable_cents, beyond), 0
    return 0, net
