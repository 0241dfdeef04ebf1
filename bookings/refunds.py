"""The refund ledger: reserving a refund under the booking's lock, sending it
to Stripe (from the outbox, with no lock held), and recording what Stripe
says about any refund of a booking's payment, whoever made it.

Exactly once, under any concurrency:
- a refund is decided by `refund_reserve`, inside the transaction that holds
  the booking's row lock and makes the decision (a cancel, a late payment):
  the amount comes from the booking as it is under the lock, less what other
  refunds in flight already reserved, so refunds can never add up to more
  than was paid;
- `refund_send` runs from the outbox; Stripe dedupes retries by the
  refund's idempotency key. After a 5xx answer it does not retry under the
  same key (Stripe would replay the stored 5xx for 24 h): the next run
  first looks the refund up by its `altar_refund` metadata, records it if
  Stripe made it, and only otherwise moves to the next attempt's key. After
  a timeout (the request may still be running at Stripe) it retries the
  same key;
- `refund_record` keys on Stripe's refund id (and on our own id through the
  metadata), so the platform's answer and the refund.* webhooks count a
  refund once, in any order.

Only `succeeded` refunds count in `Booking.refunded_cents`; a pending one is
money still on its way, a failed one is shown to staff and not counted.

A booking may have several payments (deposit, balance: bookings.models.
BookingPayment). A refund decided for a booking is spread over its Stripe
payments most recent first (money.refund_allocation), one BookingRefund per
payment, each with its own idempotency key and never above what that
payment still holds. `ledger_refresh` derives the booking's paid, refunded
and commission-refunded figures from the ledger (money.ledger_totals).
Offline payments are not refunded through Stripe: staff return those
themselves.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from bookings import money, payments
from bookings.errors import BookingNotFound, PaymentProviderError, RefundTooLarge
from bookings.models import Booking, BookingPayment, BookingRefund
from tenants.audit import audit_record, diff
from tenants.models import Tenant

Status = BookingRefund.Status

# Stripe's refund statuses (https://docs.stripe.com/api/refunds/object#refund_object-status)
# onto ours; `requires_action` is still on its way.
STRIPE_STATUS = {
    "pending": Status.PENDING,
    "requires_action": Status.PENDING,
    "succeeded": Status.SUCCEEDED,
    "failed": Status.FAILED,
    "canceled": Status.CANCELED,
}
# A status may only move forward: a late `refund.created` (pending) never
# undoes a `refund.updated` (succeeded). A succeeded refund can still fail
# later (Stripe: the bank returns it), so `failed` outranks `succeeded`.
RANK = {
    Status.REQUESTED: 0,
    Status.PENDING: 1,
    Status.SUCCEEDED: 2,
    Status.CANCELED: 3,
    Status.FAILED: 3,
}


class RefundRetryLater(Exception):
    """Stripe's answer was unclear (5xx, timeout): the outbox runs the task
    again later, and that run looks the refund up first."""


def locked_booking(*, tenant: Tenant, booking_id: uuid.UUID | str) -> Booking:
    """The booking, row-locked until the end of the caller's transaction."""
    booking = (
        Booking.objects.select_for_update(of=("self",)).filter(tenant=tenant, pk=booking_id).first()
    )
    if booking is None:
        raise BookingNotFound()
    return booking


def reserved_cents(booking: Booking) -> int:
    """What refunds already asked for and not yet settled will take."""
    total = BookingRefund.objects.filter(
        tenant=booking.tenant_id, booking=booking, status__in=BookingRefund.RESERVING_STATUSES
    ).aggregate(total=Sum("amount_cents"))["total"]
    return total or 0


def refundable_now(booking: Booking) -> int:
    """Precondition: `booking` is locked (or the answer is only a preview)."""
    return money.refundable_cents(
        paid_cents=booking.paid_cents,
        refunded_cents=booking.refunded_cents,
        reserved_cents=reserved_cents(booking),
    )


def returned_for_price_cents(booking: Booking) -> int:
    """What date changes to a lower price gave back (or are giving back)."""
    total = BookingRefund.objects.filter(
        tenant=booking.tenant_id,
        booking=booking,
        reason=BookingRefund.Reason.DATE_CHANGE,
        status__in=[*BookingRefund.RESERVING_STATUSES, Status.SUCCEEDED],
    ).aggregate(total=Sum("amount_cents"))["total"]
    return total or 0


def stripe_holdings(booking: Booking) -> list[tuple[BookingPayment, int]]:
    """The booking's succeeded Stripe payments, most recent first, each with
    what it still holds: its amount less its succeeded and in-flight refunds."""
    payments_ = list(
        BookingPayment.objects.filter(
            tenant=booking.tenant_id,
            booking=booking,
            status=BookingPayment.Status.SUCCEEDED,
            stripe_payment_intent_id__isnull=False,
        ).order_by("-succeeded_at", "-id")
    )
    taken = dict(
        BookingRefund.objects.filter(
            tenant=booking.tenant_id,
            payment__in=payments_,
            status__in=[*BookingRefund.RESERVING_STATUSES, Status.SUCCEEDED],
        )
        .values_list("payment")
        .annotate(total=Sum("amount_cents"))
        .values_list("payment", "total")
    )
    return [(payment, payment.amount_cents - taken.get(payment.pk, 0)) for payment in payments_]


def refund_reserve(
    *, tenant: Tenant, booking: Booking, amount_cents: int, reason: str
) -> list[BookingRefund]:
    """Decide a refund, spread over the booking's Stripe payments most recent
    first. Precondition: inside atomic, `booking` locked by this
    transaction. The caller queues `bookings.tasks.refund_send` for each
    refund in the same transaction (the outbox). Raises RefundTooLarge."""
    holdings = stripe_holdings(booking)
    if amount_cents <= 0 or amount_cents > min(
        refundable_now(booking), sum(holds for _, holds in holdings)
    ):
        raise RefundTooLarge()
    by_id = {payment.pk: payment for payment, _ in holdings}
    made = []
    for payment_id, cents in money.refund_allocation(
        amount_cents=amount_cents,
        holdings=[(payment.pk, holds) for payment, holds in holdings],
    ):
        refund = BookingRefund.objects.create(
            tenant=tenant,
            booking=booking,
            payment=by_id[payment_id],
            amount_cents=cents,
            status=Status.REQUESTED,
            reason=reason,
        )
        audit_record(
            tenant=tenant,
            action="booking.refund_requested",
            obj=booking,
            changes={
                "refund": [None, refund.pk],
                "refund_payment": [None, payment_id],
                "refund_amount_cents": [None, cents],
                "refund_reason": [None, reason],
            },
        )
        made.append(refund)
    return made


def refund_send(*, tenant: Tenant, refund_id: int) -> str:
    """Send a requested refund to Stripe and record the answer. Runs from the
    outbox, outside any transaction. Raises RefundRetryLater when Stripe's
    answer is unclear."""
    refund = (
        BookingRefund.objects.select_related("booking", "payment")
        .filter(tenant=tenant, pk=refund_id)
        .first()
    )
    if refund is None or refund.status != Status.REQUESTED:
        return "already sent"
    booking = refund.booking
    payment_intent_id = (
        refund.payment.stripe_payment_intent_id if refund.payment else None
    ) or booking.stripe_payment_intent_id
    if refund.unclear_since is not None:
        # The last try got a 5xx or timed out. Under the same key Stripe would
        # replay that answer: find out whether the refund exists instead.
        try:
            made = payments.refund_find(
                payment_intent_id=payment_intent_id, altar_refund_id=refund.pk
            )
        except PaymentProviderError as exc:
            raise RefundRetryLater() from exc
        if made is not None:
            refund_record(
                tenant=tenant, booking_id=booking.pk, refund=made, altar_refund_id=refund.pk
            )
            return f"found {made.id} after an unclear answer"
        # Stripe has none: the next key is safe to use.
        BookingRefund.objects.filter(pk=refund.pk, attempt=refund.attempt).update(
            attempt=F("attempt") + 1, unclear_since=None, updated_at=timezone.now()
        )
        refund.refresh_from_db()
    try:
        made = payments.refund_create(
            booking=booking,
            payment_intent_id=payment_intent_id,
            amount_cents=refund.amount_cents,
            idempotency_key=refund.idempotency_key,
            altar_refund_id=refund.pk,
        )
    except PaymentProviderError as exc:
        if exc.retryable:
            if exc.stored_under_key:
                BookingRefund.objects.filter(pk=refund.pk, unclear_since__isnull=True).update(
                    unclear_since=timezone.now(), updated_at=timezone.now()
                )
            # Otherwise (timeout, lost connection, 409 in flight, 429) the
            # first request may still be running at Stripe: a lookup now
            # proves nothing, and the same key is retried (Stripe answers 409
            # while it runs, then replays its result).
            raise RefundRetryLater() from exc
        refund_refused(tenant=tenant, refund_id=refund.pk, failure=exc.stripe_code or "refused")
        return f"refused by Stripe ({exc.stripe_code})"
    refund_record(tenant=tenant, booking_id=booking.pk, refund=made, altar_refund_id=refund.pk)
    return f"refunded {made.id} ({made.status})"


@transaction.atomic
def refund_refused(*, tenant: Tenant, refund_id: int, failure: str) -> None:
    """Stripe refused the request outright (e.g. the charge is disputed):
    the reservation ends, staff see it failed."""
    refund = BookingRefund.objects.select_related("booking").get(tenant=tenant, pk=refund_id)
    booking = locked_booking(tenant=tenant, booking_id=refund.booking_id)
    refund.refresh_from_db()
    if refund.status != Status.REQUESTED:
        return
    refund.status = Status.FAILED
    refund.failure = failure[:100]
    refund.save(update_fields=["status", "failure", "updated_at"])
    audit_record(
        tenant=tenant,
        action="booking.refund_failed",
        obj=booking,
        changes={"refund": [None, refund.pk], "refund_status": ["requested", "failed"]},
    )


@transaction.atomic
def refund_record(
    *,
    tenant: Tenant,
    booking_id: uuid.UUID | str,
    refund: payments.Refund,
    altar_refund_id: int | None = None,
) -> bool:
    """Record what Stripe says about one refund of this booking's payment
    (our answer from `refunds.create`, or a refund.* event). Returns whether
    anything changed."""
    booking = locked_booking(tenant=tenant, booking_id=booking_id)
    row = None
    if altar_refund_id is not None:
        row = BookingRefund.objects.filter(
            tenant=tenant, booking=booking, pk=altar_refund_id
        ).first()
    if row is None:
        row = BookingRefund.objects.filter(stripe_refund_id=refund.id).first()
    status = STRIPE_STATUS.get(refund.status, Status.PENDING)
    before_status = row.status if row is not None else None
    if row is None:
        # Made outside Altar (Stripe's dashboard): its metadata is empty.
        row = BookingRefund(
            tenant=tenant,
            booking=booking,
            payment=BookingPayment.objects.filter(
                tenant=tenant, booking=booking, stripe_payment_intent_id=refund.payment_intent_id
            ).first()
            if refund.payment_intent_id
            else None,
            amount_cents=refund.amount_cents,
            reason=BookingRefund.Reason.STRIPE_DASHBOARD,
            status=status,
        )
    elif RANK[status] < RANK[row.status] or (row.status == status and row.stripe_refund_id):
        return False  # older news, or nothing new
    row.stripe_refund_id = refund.id
    row.status = status
    row.unclear_since = None
    if status == Status.FAILED:
        row.failure = (refund.failure_reason or "failed")[:100]
    row.save()
    audit_record(
        tenant=tenant,
        action="booking.refund_failed" if status == Status.FAILED else "booking.refund_updated",
        obj=booking,
        changes={
            "refund": [None, refund.id],
            "refund_status": [before_status, status],
            "refund_amount_cents": [None, row.amount_cents],
            "refund_reason": [None, row.reason],
        },
    )
    refunded_refresh(booking)
    return True


def refund_record_from_event(*, tenant: Tenant, refund: dict[str, Any]) -> bool | None:
    """A refund.created / refund.updated / refund.failed payload. None when
    no booking of this tenant was paid by its payment intent."""
    payment_intent = refund.get("payment_intent")
    if not payment_intent:
        return None
    booking = Booking.objects.filter(tenant=tenant, stripe_payment_intent_id=payment_intent).first()
    if booking is None:
        paid = (
            BookingPayment.objects.filter(tenant=tenant, stripe_payment_intent_id=payment_intent)
            .select_related("booking")
            .first()
        )
        booking = paid.booking if paid else None
    if booking is None:
        return None
    altar_id = (refund.get("metadata") or {}).get("altar_refund")
    return refund_record(
        tenant=tenant,
        booking_id=booking.pk,
        refund=payments.Refund(
            id=refund["id"],
            amount_cents=refund["amount"],
            status=refund.get("status") or "pending",
            failure_reason=refund.get("failure_reason") or "",
            payment_intent_id=payment_intent,
        ),
        altar_refund_id=int(altar_id) if altar_id and altar_id.isdigit() else None,
    )


def refunds_sync(*, tenant: Tenant, booking_id: uuid.UUID | str) -> str:
    """Record every refund Stripe has of the booking's payment. Run once
    after a payment is recorded: a refund made at Stripe before the payment
    reached Altar (its refund.* event found no booking yet and was ignored)
    counts from then on. Outside any transaction (a Stripe call)."""
    booking = Booking.objects.filter(tenant=tenant, pk=booking_id).first()
    if booking is None or not booking.stripe_payment_intent_id:
        return "no payment"
    made = payments.refunds_list(payment_intent_id=booking.stripe_payment_intent_id)
    changed = sum(
        refund_record(
            tenant=tenant,
            booking_id=booking.pk,
            refund=refund,
            altar_refund_id=refund.altar_refund_id,
        )
        for refund in made
    )
    return f"{len(made)} refund(s) at Stripe, {changed} recorded now"


def refunded_refresh(booking: Booking) -> None:
    """Precondition: `booking` locked. Kept for callers that think in refunds."""
    ledger_refresh(booking)


def ledger_refresh(booking: Booking) -> None:
    """Precondition: `booking` locked. The one place a booking's paid,
    refunded and commission-refunded figures are derived from its ledger
    (succeeded payments and their succeeded refunds, money.ledger_totals)."""
    refunded_by_payment = dict(
        BookingRefund.objects.filter(
            tenant=booking.tenant_id, booking=booking, status=Status.SUCCEEDED
        )
        .values_list("payment")
        .annotate(total=Sum("amount_cents"))
        .values_list("payment", "total")
    )
    rows = BookingPayment.objects.filter(
        tenant=booking.tenant_id, booking=booking, status=BookingPayment.Status.SUCCEEDED
    ).values_list("pk", "amount_cents", "application_fee_cents")
    totals = money.ledger_totals(
        [(amount, fee, refunded_by_payment.get(pk, 0)) for pk, amount, fee in rows]
    )
    before = {
        "paid_cents": booking.paid_cents,
        "refunded_cents": booking.refunded_cents,
        "commission_refunded_cents": booking.commission_refunded_cents,
    }
    after = {
        "paid_cents": totals.paid_cents,
        "refunded_cents": totals.refunded_cents,
        "commission_refunded_cents": totals.commission_refunded_cents,
    }
    if after != before:
        booking.paid_cents = totals.paid_cents
        booking.refunded_cents = totals.refunded_cents
        booking.commission_refunded_cents = totals.commission_refunded_cents
        booking.save(update_fields=[*after, "updated_at"])
        if after["refunded_cents"] != before["refunded_cents"]:
            audit_record(
                tenant=booking.tenant,
                action="booking.refunded",
                obj=booking,
                changes=diff(
                    {k: before[k] for k in ("refunded_cents", "commission_refunded_cents")},
                    {k: after[k] for k in ("refunded_cents", "commission_refunded_cents")},
                ),
            )
