"""Reconcile Altar's ledger with Stripe's: list what Stripe has for a period
(charges, refunds, disputes, application fees, every page), compare it with
the bookings, refunds and disputes Altar recorded, and say every difference
in words. With `fix`, record what Stripe did through the same services the
webhooks use (`refund_record`, `booking_dispute_record`): never a call that
moves money. Each fix is audited on its booking.

The comparison is a list of rules (`RULES`): each reads both ledgers and
yields Differences. A new money path (deposits, balances, date changes)
plugs in as a new rule, and its fixes as the rule's Differences' `fix`.

Periods: Stripe's lists are filtered by `created >= since`. A booking is
created before its charge, and a charge before its refunds and disputes, so
for every charge in the period all of its refunds and disputes are listed
too; checks that need "everything Stripe has for this payment" (refund
totals, a refund Stripe lacks, the application fee) run only for payments
whose charge is in the period, and "paid but no charge at Stripe" only for
bookings created in it.

Messages carry ids and amounts only, never a couple's name or e-mail.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from bookings import payments, refunds
from bookings.models import (
    Booking,
    BookingDispute,
    BookingPayment,
    BookingRefund,
    PaymentReview,
    ReconcileRun,
)
from bookings.notifications import format_money
from bookings.services import ReportedDispute, booking_dispute_record
from tenants.audit import audit_record
from tenants.models import Tenant
from tenants.scoping import tenant_scope

logger = logging.getLogger("altar.reconcile")

# Booking fields the comparison reads (never the couple's personal data).
BOOKING_FIELDS = (
    "id",
    "tenant_id",
    "status",
    "amount_cents",
    "currency",
    "paid_cents",
    "refunded_cents",
    "commission_cents",
    "commission_refunded_cents",
    "stripe_payment_intent_id",
    "stripe_account_id",
    "created_at",
)


@dataclass(frozen=True)
class Difference:
    """One way the ledgers disagree. `kind` is a stable code; `message` says
    it to a person. `fix` (None: a person must look) records Stripe's side
    in Altar and returns whether it changed anything."""

    kind: str
    message: str
    tenant: str = ""
    booking: str = ""
    stripe_id: str = ""
    fix: Callable[[], bool] | None = field(default=None, compare=False, repr=False)

    def as_dict(self, *, fixed: bool = False) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "message": self.message,
            "tenant": self.tenant,
            "booking": self.booking,
            "stripe_id": self.stripe_id,
            "fixable": self.fix is not None,
            "fixed": fixed,
        }


@dataclass
class StripeBooks:
    """What Stripe lists for the period, as plain dicts."""

    charges: list[dict]
    refunds: list[dict]
    disputes: list[dict]
    fees: list[dict]

    @property
    def count(self) -> int:
        return len(self.charges) + len(self.refunds) + len(self.disputes) + len(self.fees)


@dataclass
class AltarBooks:
    """What Altar recorded about the bookings Stripe's objects name, and
    the paid bookings of the period."""

    tenants: dict[int, Tenant]
    bookings: dict[str, Booking]  # by id (str)
    by_payment_intent: dict[str, Booking]
    refunds_by_stripe_id: dict[str, BookingRefund]
    refunds_by_pk: dict[int, BookingRefund]
    refunds_of: dict[str, list[BookingRefund]]  # booking id -> rows
    disputes_by_stripe_id: dict[str, BookingDispute]
    disputes_of: dict[str, list[BookingDispute]]
    reviewed_payment_intents: set[str]
    # A booking's payments that went through Stripe (deposit, balance), by
    # PaymentIntent: a booking paid in parts has one charge per part.
    payments_by_intent: dict[str, BookingPayment] = field(default_factory=dict)

    def slug(self, booking: Booking) -> str:
        return self.tenants[booking.tenant_id].slug


@dataclass
class Books:
    stripe: StripeBooks
    altar: AltarBooks
    tenant: Tenant | None
    since: dt.datetime | None
    # Payment intents whose (succeeded) charge is in the period.
    charged: dict[str, dict] = field(default_factory=dict)
    # Bookings that already have a per-object difference (totals would repeat it).
    noted: set[str] = field(default_factory=set)

    def in_scope(self, slug: str) -> bool:
        return self.tenant is None or slug == self.tenant.slug

    def in_period(self, booking: Booking) -> bool:
        return self.since is None or booking.created_at >= self.since


Rule = Callable[[Books], Iterator[Difference]]


def _money(amount: int, currency: str) -> str:
    return format_money(amount, (currency or "").lower())


def _plain(obj: Any) -> dict:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _booking_ref(booking: Booking) -> str:
    return f"booking {booking.pk}"


# --- payments -----------------------------------------------------------------------


def payments_rule(books: Books) -> Iterator[Difference]:
    altar = books.altar
    for charge in books.stripe.charges:
        if charge.get("status") != "succeeded":
            continue  # a delayed payment still settling, or one that failed: no money yet
        pi = charge.get("payment_intent") or ""
        amount = _money(charge["amount"], charge["currency"])
        booking = altar.by_payment_intent.get(pi)
        if booking is None:
            if pi in altar.reviewed_payment_intents:
                continue  # Altar knows: a payment needing review (staff see it)
            claimed = altar.bookings.get((charge.get("metadata") or {}).get("booking_id") or "")
            if claimed is not None:
                slug = altar.slug(claimed)
                if not books.in_scope(slug):
                    continue
                books.noted.add(str(claimed.pk))
                recorded = (
                    f"Altar recorded {claimed.stripe_payment_intent_id} instead"
                    if claimed.paid_cents
                    else "Altar has no payment recorded for it"
                )
                yield Difference(
                    "payment_missing",
                    f"Stripe took {amount} for {_booking_ref(claimed)} "
                    f"({charge['id']}, {pi}); {recorded}.",
                    slug,
                    str(claimed.pk),
                    charge["id"],
                )
                continue
            slug = (charge.get("metadata") or {}).get("tenant") or ""
            if books.tenant is not None and slug != books.tenant.slug:
                continue
            yield Difference(
                "payment_unknown",
                f"Stripe took {amount} ({charge['id']}, {pi or 'no payment intent'}) "
                "for no booking Altar knows.",
                slug,
                "",
                charge["id"],
            )
            continue
        slug = altar.slug(booking)
        if not books.in_scope(slug):
            continue
        books.charged[pi] = charge
        part = altar.payments_by_intent.get(pi)
        if part is not None:
            if charge["amount"] != part.amount_cents or part.status != "succeeded":
                books.noted.add(str(booking.pk))
                yield Difference(
                    "amount_mismatch",
                    f"Stripe charged {amount} for {_booking_ref(booking)} ({charge['id']}); "
                    f"Altar has its {part.kind} payment #{part.pk} as {part.status}, "
                    f"{_money(part.amount_cents, booking.currency)}.",
                    slug,
                    str(booking.pk),
                    charge["id"],
                )
            continue
        if charge["amount"] != booking.paid_cents or charge["currency"] != booking.currency:
            books.noted.add(str(booking.pk))
            yield Difference(
                "amount_mismatch",
                f"Stripe charged {amount} for {_booking_ref(booking)} ({charge['id']}); "
                f"Altar recorded {_money(booking.paid_cents, booking.currency)} paid.",
                slug,
                str(booking.pk),
                charge["id"],
            )
    every_charge = {c.get("payment_intent"): c for c in books.stripe.charges}
    for booking in altar.bookings.values():
        counts_paid = booking.paid_cents > 0 or booking.status == Booking.Status.CONFIRMED
        pi = booking.stripe_payment_intent_id or ""
        if not counts_paid or pi in books.charged or not books.in_period(booking):
            continue
        slug = altar.slug(booking)
        if not books.in_scope(slug):
            continue
        books.noted.add(str(booking.pk))
        charge = every_charge.get(pi) if pi else None
        at_stripe = (
            f"Stripe's charge {charge['id']} is {charge.get('status')}"
            if charge is not None
            else "Stripe has no charge for it"
        )
        yield Difference(
            "charge_missing",
            f"{_booking_ref(booking)} is {booking.status} with "
            f"{_money(booking.paid_cents, booking.currency)} paid ({pi or 'no payment intent'}); "
            f"{at_stripe}.",
            slug,
            str(booking.pk),
            pi,
        )


# --- refunds ------------------------------------------------------------------------


def _refund_fix(books: Books, booking: Booking, refund: dict, altar_refund_id: int | None):
    def fix() -> bool:
        return refunds.refund_record(
            tenant=books.altar.tenants[booking.tenant_id],
            booking_id=booking.pk,
            refund=payments.Refund(
                id=refund["id"],
                amount_cents=refund["amount"],
                status=refund.get("status") or "pending",
                failure_reason=refund.get("failure_reason") or "",
                payment_intent_id=refund.get("payment_intent") or "",
            ),
            altar_refund_id=altar_refund_id,
        )

    return fix


def refunds_rule(books: Books) -> Iterator[Difference]:
    altar = books.altar
    listed: dict[str, list[dict]] = defaultdict(list)
    for refund in books.stripe.refunds:
        booking = altar.by_payment_intent.get(refund.get("payment_intent") or "")
        if booking is None:
            continue  # a payment Altar does not know: the payments rule says so
        slug = altar.slug(booking)
        if not books.in_scope(slug):
            continue
        listed[str(booking.pk)].append(refund)
        amount = _money(refund["amount"], refund["currency"])
        status = refunds.STRIPE_STATUS.get(refund.get("status"), BookingRefund.Status.PENDING)
        row = altar.refunds_by_stripe_id.get(refund["id"])
        ours = (refund.get("metadata") or {}).get("altar_refund") or ""
        if row is None and ours.isdigit():
            candidate = altar.refunds_by_pk.get(int(ours))
            if candidate is not None and candidate.booking_id == booking.pk:
                row = candidate
        ref = _booking_ref(booking)
        if row is None:
            books.noted.add(str(booking.pk))
            yield Difference(
                "refund_unknown",
                f"Stripe refunded {amount} of {ref} ({refund['id']}, {refund.get('status')}); "
                "Altar has no record of this refund.",
                slug,
                str(booking.pk),
                refund["id"],
                _refund_fix(books, booking, refund, None),
            )
            continue
        if row.stripe_refund_id is None:
            books.noted.add(str(booking.pk))
            yield Difference(
                "refund_unrecorded",
                f"Altar asked for refund #{row.pk} of {ref}; Stripe made it ({refund['id']}, "
                f"{refund.get('status')}, {amount}) but Altar has it as {row.status}.",
                slug,
                str(booking.pk),
                refund["id"],
                _refund_fix(books, booking, refund, row.pk),
            )
            continue
        if row.amount_cents != refund["amount"]:
            books.noted.add(str(booking.pk))
            yield Difference(
                "refund_amount_mismatch",
                f"Stripe's refund {refund['id']} of {ref} is {amount}; Altar recorded "
                f"{_money(row.amount_cents, refund['currency'])}.",
                slug,
                str(booking.pk),
                refund["id"],
            )
        if row.status != status:
            books.noted.add(str(booking.pk))
            forward = refunds.RANK[status] > refunds.RANK[row.status]
            yield Difference(
                "refund_status_mismatch",
                f"Altar has refund {refund['id']} of {ref} ({amount}) as {row.status}; "
                f"Stripe says {refund.get('status')}.",
                slug,
                str(booking.pk),
                refund["id"],
                _refund_fix(books, booking, refund, row.pk) if forward else None,
            )
    # What Altar counts that Stripe does not have, for payments charged in the period.
    at_stripe = {refund["id"] for refund in books.stripe.refunds}
    for pi, charge in books.charged.items():
        booking = altar.by_payment_intent[pi]
        key = str(booking.pk)
        for row in altar.refunds_of.get(key, []):
            if row.stripe_refund_id and row.stripe_refund_id not in at_stripe:
                books.noted.add(key)
                yield Difference(
                    "refund_missing_at_stripe",
                    f"Altar has refund {row.stripe_refund_id} of {_booking_ref(booking)} "
                    f"({_money(row.amount_cents, booking.currency)}) as {row.status}; "
                    "Stripe has no such refund.",
                    altar.slug(booking),
                    key,
                    row.stripe_refund_id,
                )
        if key in books.noted:
            continue
        succeeded = sum(r["amount"] for r in listed.get(key, []) if r.get("status") == "succeeded")
        expected = min(succeeded, booking.paid_cents)
        if booking.refunded_cents != expected:
            books.noted.add(key)
            yield Difference(
                "refunded_total_mismatch",
                f"Stripe refunded {_money(expected, booking.currency)} of "
                f"{_booking_ref(booking)} ({charge['id']}); Altar counts "
                f"{_money(booking.refunded_cents, booking.currency)} refunded.",
                altar.slug(booking),
                key,
                charge["id"],
            )


# --- disputes -----------------------------------------------------------------------


def _dispute_fix(books: Books, booking: Booking, dispute: dict):
    def fix() -> bool:
        outcome = booking_dispute_record(
            tenant=books.altar.tenants[booking.tenant_id],
            dispute=ReportedDispute(
                dispute_id=dispute["id"],
                charge_id=dispute.get("charge") or "",
                payment_intent_id=dispute.get("payment_intent") or "",
                amount=dispute.get("amount") or 0,
                currency=dispute.get("currency") or "",
                reason=dispute.get("reason") or "",
                status=dispute.get("status") or "",
                # As of now: newer than any event Stripe sent before this read.
                event_created=int(time.time()),
            ),
        )
        return outcome is not None and not outcome.startswith("dispute left")

    return fix


def disputes_rule(books: Books) -> Iterator[Difference]:
    altar = books.altar
    for dispute in books.stripe.disputes:
        booking = altar.by_payment_intent.get(dispute.get("payment_intent") or "")
        if booking is None:
            continue
        slug = altar.slug(booking)
        if not books.in_scope(slug):
            continue
        row = altar.disputes_by_stripe_id.get(dispute["id"])
        amount = _money(dispute["amount"], dispute["currency"])
        ref = _booking_ref(booking)
        if row is None:
            yield Difference(
                "dispute_unknown",
                f"Stripe has dispute {dispute['id']} ({dispute.get('reason')}, "
                f"{dispute.get('status')}, {amount}) on {ref}; Altar has no record of it.",
                slug,
                str(booking.pk),
                dispute["id"],
                _dispute_fix(books, booking, dispute),
            )
        elif row.status != dispute.get("status"):
            yield Difference(
                "dispute_status_mismatch",
                f"Altar has dispute {dispute['id']} of {ref} as {row.status}; "
                f"Stripe says {dispute.get('status')}.",
                slug,
                str(booking.pk),
                dispute["id"],
                _dispute_fix(books, booking, dispute) if row.is_open else None,
            )
    at_stripe = {dispute["id"] for dispute in books.stripe.disputes}
    for pi in books.charged:
        booking = altar.by_payment_intent[pi]
        for row in altar.disputes_of.get(str(booking.pk), []):
            if row.stripe_dispute_id not in at_stripe:
                yield Difference(
                    "dispute_missing_at_stripe",
                    f"Altar has dispute {row.stripe_dispute_id} of {_booking_ref(booking)} "
                    f"as {row.status}; Stripe has no such dispute.",
                    altar.slug(booking),
                    str(booking.pk),
                    row.stripe_dispute_id,
                )


# --- application fees ---------------------------------------------------------------


def application_fees_rule(books: Books) -> Iterator[Difference]:
    """The platform's commission as Stripe took it (destination charges) and
    gave it back (refunds with refund_application_fee)."""
    fees = {fee.get("charge"): fee for fee in books.stripe.fees}
    # Stripe gives the fee's share back when it creates a refund; Altar counts
    # commission reversed once a refund succeeds (a pending one may still
    # fail). A charge with a refund in flight is compared once it settles.
    in_flight = {r.get("charge") for r in books.stripe.refunds if r.get("status") == "pending"}
    for pi, charge in books.charged.items():
        booking = books.altar.by_payment_intent[pi]
        key = str(booking.pk)
        fee = fees.get(charge["id"])
        slug = books.altar.slug(booking)
        ref = _booking_ref(booking)
        if not booking.stripe_account_id:
            if fee is not None:
                yield Difference(
                    "application_fee_unexpected",
                    f"Stripe took an application fee {fee['id']} "
                    f"({_money(fee['amount'], fee['currency'])}) on {ref}, which Altar "
                    "charged on the platform account.",
                    slug,
                    key,
                    fee["id"],
                )
            continue
        if fee is None:
            yield Difference(
                "application_fee_missing",
                f"{ref} was charged for {booking.stripe_account_id} ({charge['id']}); "
                f"Stripe has no application fee for it (Altar's commission: "
                f"{_money(booking.commission_cents, booking.currency)}).",
                slug,
                key,
                charge["id"],
            )
            continue
        part = books.altar.payments_by_intent.get(pi)
        expected_fee = part.application_fee_cents if part is not None else booking.commission_cents
        parts_charged = sum(
            1 for other in books.charged if books.altar.by_payment_intent[other].pk == booking.pk
        )
        if fee["amount"] != expected_fee:
            yield Difference(
                "application_fee_mismatch",
                f"Stripe's application fee {fee['id']} on {ref} is "
                f"{_money(fee['amount'], fee['currency'])}; Altar's commission on it is "
                f"{_money(expected_fee, booking.currency)}.",
                slug,
                key,
                fee["id"],
            )
        elif (
            parts_charged == 1
            and key not in books.noted
            and charge["id"] not in in_flight
            and fee["amount_refunded"] != booking.commission_refunded_cents
        ):
            yield Difference(
                "commission_refund_mismatch",
                f"Stripe gave back {_money(fee['amount_refunded'], fee['currency'])} of "
                f"application fee {fee['id']} on {ref}; Altar counts "
                f"{_money(booking.commission_refunded_cents, booking.currency)} of its "
                "commission reversed.",
                slug,
                key,
                fee["id"],
            )


RULES: list[Rule] = [payments_rule, refunds_rule, disputes_rule, application_fees_rule]


# --- reading both ledgers -----------------------------------------------------------


def stripe_books(*, since: dt.datetime | None) -> StripeBooks:
    """Everything Stripe lists for the period. Raises PaymentProviderError.
    Call outside any transaction (network)."""
    created_gte = int(since.timestamp()) if since is not None else None
    read = {
        kind: [_plain(obj) for obj in payments.stripe_list(kind, created_gte=created_gte)]
        for kind in payments.LISTABLE
    }
    return StripeBooks(
        charges=read["charges"],
        refunds=read["refunds"],
        disputes=read["disputes"],
        fees=read["application_fees"],
    )


def _uuid(value: Any) -> str | None:
    try:
        return str(uuid.UUID(str(value)))
    except ValueError:
        return None


def altar_books(
    *, stripe: StripeBooks, tenant: Tenant | None, since: dt.datetime | None
) -> AltarBooks:
    """Altar's records for what Stripe listed and for the period's paid
    bookings, in a fixed number of queries. Precondition: inside the
    tenant's scope, or scopes disabled when `tenant` is None."""
    objects = [*stripe.charges, *stripe.refunds, *stripe.disputes]
    payment_intents = {o.get("payment_intent") for o in objects if o.get("payment_intent")}
    claimed = {
        uid
        for charge in stripe.charges
        if (uid := _uuid((charge.get("metadata") or {}).get("booking_id") or ""))
    }
    in_period = Q(paid_cents__gt=0) | Q(status=Booking.Status.CONFIRMED)
    if since is not None:
        in_period &= Q(created_at__gte=since)
    bookings = Booking.objects.filter(
        Q(stripe_payment_intent_id__in=payment_intents) | Q(pk__in=claimed) | in_period
    )
    tenants = Tenant.objects.all()
    if tenant is not None:
        bookings = bookings.filter(tenant=tenant)
        tenants = tenants.filter(pk=tenant.pk)
    by_id = {str(b.pk): b for b in bookings.only(*BOOKING_FIELDS)}
    parts = BookingPayment.objects.filter(
        Q(booking_id__in=list(by_id)) | Q(stripe_payment_intent_id__in=payment_intents),
        stripe_payment_intent_id__isnull=False,
    )
    if tenant is not None:
        parts = parts.filter(tenant=tenant)
    payments_by_intent = {p.stripe_payment_intent_id: p for p in parts}
    missing = {p.booking_id for p in payments_by_intent.values()} - {b.pk for b in by_id.values()}
    if missing:
        by_id.update(
            {str(b.pk): b for b in Booking.objects.filter(pk__in=missing).only(*BOOKING_FIELDS)}
        )
    ids = list(by_id)
    rows = list(BookingRefund.objects.filter(booking_id__in=ids).order_by("pk"))
    disputes = list(BookingDispute.objects.filter(booking_id__in=ids))
    refunds_of: dict[str, list[BookingRefund]] = defaultdict(list)
    for row in rows:
        refunds_of[str(row.booking_id)].append(row)
    disputes_of: dict[str, list[BookingDispute]] = defaultdict(list)
    for row in disputes:
        disputes_of[str(row.booking_id)].append(row)
    reviews = PaymentReview.objects.filter(stripe_payment_intent_id__in=payment_intents)
    if tenant is not None:
        reviews = reviews.filter(tenant=tenant)
    return AltarBooks(
        tenants={t.pk: t for t in tenants},
        bookings=by_id,
        by_payment_intent={
            **{b.stripe_payment_intent_id: b for b in by_id.values() if b.stripe_payment_intent_id},
            **{pi: by_id[str(p.booking_id)] for pi, p in payments_by_intent.items()},
        },
        payments_by_intent=payments_by_intent,
        refunds_by_stripe_id={r.stripe_refund_id: r for r in rows if r.stripe_refund_id},
        refunds_by_pk={r.pk: r for r in rows},
        refunds_of=refunds_of,
        disputes_by_stripe_id={d.stripe_dispute_id: d for d in disputes},
        disputes_of=disputes_of,
        reviewed_payment_intents=set(reviews.values_list("stripe_payment_intent_id", flat=True)),
    )


def compare(
    *, stripe: StripeBooks, tenant: Tenant | None, since: dt.datetime | None
) -> list[Difference]:
    """Every difference between Stripe's books and Altar's, in RULES order."""
    books = Books(
        stripe=stripe,
        altar=altar_books(stripe=stripe, tenant=tenant, since=since),
        tenant=tenant,
        since=since,
    )
    return [difference for rule in RULES for difference in rule(books)]


# --- the run ------------------------------------------------------------------------


@dataclass
class ReconcileResult:
    run: ReconcileRun
    differences: list[Difference]  # as found, before any fix
    fixed: list[Difference]
    remaining: list[Difference]  # after the fixes, compared again
    seconds: float


def _apply(difference: Difference, tenant: Tenant) -> bool:
    """One fix in its own transaction, audited on its booking."""
    with tenant_scope(tenant), transaction.atomic():
        changed = difference.fix()
        if changed:
            booking = Booking.objects.filter(tenant=tenant, pk=difference.booking).first()
            audit_record(
                tenant=tenant,
                action="booking.reconciled",
                obj=booking,
                changes={
                    "difference": [difference.kind, None],
                    "stripe_id": [difference.stripe_id, difference.stripe_id],
                },
            )
    return changed


def reconcile_run(
    *, tenant: Tenant | None = None, since: dt.datetime | None = None, fix: bool = False
) -> ReconcileResult:
    """List Stripe's books for the period, compare, optionally record what
    Stripe did (`fix`), compare again, and store the run. Idempotent: a
    second run finds nothing the first one fixed. Call outside a
    transaction, inside the tenant's scope or with scopes disabled (all
    tenants). Raises PaymentProviderError when Stripe cannot be read."""
    started = timezone.now()
    clock = time.monotonic()
    stripe = stripe_books(since=since)
    found = compare(stripe=stripe, tenant=tenant, since=since)
    fixed: list[Difference] = []
    if fix:
        tenants = {t.slug: t for t in Tenant.objects.filter(slug__in={d.tenant for d in found})}
        for difference in found:
            if difference.fix is not None and _apply(difference, tenants[difference.tenant]):
                fixed.append(difference)
    # Fixes only change Altar's side: Stripe's listing stays the truth.
    remaining = compare(stripe=stripe, tenant=tenant, since=since) if fixed else found
    fixed_keys = {(d.kind, d.stripe_id) for d in fixed}
    report = [d.as_dict(fixed=True) for d in fixed] + [d.as_dict() for d in remaining]
    run = ReconcileRun.objects.create(
        tenant=tenant,
        since=since,
        fix=fix,
        started_at=started,
        finished_at=timezone.now(),
        stripe_objects=stripe.count,
        fixed=len(fixed_keys),
        remaining=len(remaining),
        report=report[: ReconcileRun.REPORT_LIMIT],
    )
    seconds = time.monotonic() - clock
    if remaining:
        logger.warning("reconcile: %d difference(s) remain (run %s)", len(remaining), run.pk)
    return ReconcileResult(
        run=run, differences=found, fixed=fixed, remaining=remaining, seconds=seconds
    )
