"""Booking writes: holds and checkout, payment, expiry, cancellation and
refunds, blackout dates, the checkout's Idempotency-Key. One unit of work each.

Preconditions: run inside the tenant's scope (API, admin, TenantCommand,
webhook receiver) or `scopes_disabled()`. Services nest inside a caller's
transaction (the webhook receiver's), so none is `durable`.

Races are decided by the database: the partial unique constraint
`bookings_booking_tenant_event_date_active_uniq` admits one held-or-confirmed
booking per tenant and date; state transitions re-read the booking under
`select_for_update` and guard on its current state, so any number of
deliveries of a Stripe event, in any order, has one effect. Stripe calls are
never made while a row lock is held: checkout calls Stripe between two short
transactions; e-mails and the refunds the platform owes are tasks queued in
the deciding transaction (bookings.tasks, the outbox) and run after commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings import hold_limits, payments, tasks
from bookings.errors import (
    AddOnNotAllowed,
    BookingNotCancelable,
    BookingNotFound,
    DateUnavailable,
    IdempotencyInProgress,
    IdempotencyKeyReused,
    PackageNotOffered,
    PaymentProviderError,
    RefundTooLarge,
)
from bookings.models import BlackoutDate, Booking, BookingAddOn, BookingRefund, IdempotencyRecord
from bookings.selectors import tenant_today, window_refusal
from catalog.models import Package
from config.db import violated_constraint
from tenants.audit import audit_entry, audit_record, audit_record_many, diff
from tenants.models import Tenant

logger = logging.getLogger("altar.bookings")

ACTIVE_DATE_CONSTRAINT = "bookings_booking_tenant_event_date_active_uniq"
BLACKOUT_CONSTRAINT = "bookings_blackoutdate_tenant_date_uniq"
IDEMPOTENCY_CONSTRAINT = "bookings_idempotencyrecord_tenant_key_uniq"

# Why a booking is canceled (Booking.cancel_reason).
CANCELED_BY_STAFF = "staff"
DATE_TAKEN = "date_taken"
# Cancellations where the whole payment goes back automatically.
FULL_REFUND_REASONS = (DATE_TAKEN, CANCELED_BY_STAFF + "_before_payment")


def _round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def commission_for(*, amount_cents: int, bps: int) -> int:
    """round-half-up(amount * bps / 10000), in exact decimal arithmetic."""
    return _round_half_up(Decimal(amount_cents) * bps / 10000)


def _locked_booking(*, tenant: Tenant, booking_id: uuid.UUID | str) -> Booking:
    booking = (
        Booking.objects.select_for_update(of=("self",)).filter(tenant=tenant, pk=booking_id).first()
    )
    if booking is None:
        raise BookingNotFound()
    return booking


# --- holds and checkout ------------------------------------------------------


@transaction.atomic
def booking_hold(
    *,
    tenant: Tenant,
    package_slug: str,
    add_on_slugs: list[str],
    event_date: dt.date,
    couple_name: str,
    email: str,
    phone: str = "",
    notes: str = "",
    client_address: str = "",
    now: dt.datetime | None = None,
) -> Booking:
    """Hold the date for `tenant.hold_minutes`, pricing the package and
    add-ons as they are now. Raises PackageNotOffered, AddOnNotAllowed,
    DateUnavailable (reason in `.reason`), HoldLimitReached or
    ValidationError; on any of them nothing is written. `client_address`:
    the API client's, for the per-address hold limit."""
    now = now or timezone.now()
    package = Package.objects.filter(tenant=tenant, slug=package_slug, active=True).first()
    if package is None:
        raise PackageNotOffered()
    if len(set(add_on_slugs)) != len(add_on_slugs):
        raise ValidationError(
            {"add_ons": ValidationError("An add-on is listed twice.", code="duplicate")}
        )
    offered = {
        add_on.slug: add_on
        for add_on in package.add_ons.filter(tenant=tenant, active=True, slug__in=add_on_slugs)
    }
    refused = [slug for slug in add_on_slugs if slug not in offered]
    if refused:
        raise AddOnNotAllowed(refused)

    reason = window_refusal(
        tenant=tenant, day=event_date, today=tenant_today(tenant=tenant, now=now)
    )
    if reason:
        raise DateUnavailable(reason)
    if BlackoutDate.objects.filter(tenant=tenant, date=event_date).exists():
        raise DateUnavailable("blackout")

    # Before any row lock: it takes the tenant's hold lock (hold_limits).
    limit_keys = hold_limits.hold_limits_check(
        tenant=tenant, email=email, client_address=client_address, now=now
    )
    # A lapsed hold never blocks a date: expire it here, in this transaction,
    # rather than waiting for `expire_holds`.
    _expire_lapsed(Booking.objects.filter(tenant=tenant, event_date=event_date), now=now)

    lines = [offered[slug] for slug in add_on_slugs]
    amount = package.price_cents + sum(add_on.price_cents for add_on in lines)
    connect_account = tenant.connect_account_for_charges
    booking = Booking(
        tenant=tenant,
        package=package,
        event_date=event_date,
        couple_name=couple_name,
        email=email,
        phone=phone,
        notes=notes,
        status=Booking.Status.HELD,
        hold_expires_at=now + dt.timedelta(minutes=tenant.hold_minutes),
        hold_email_key=limit_keys.email,
        hold_client_key=limit_keys.address,
        amount_cents=amount,
        currency=tenant.currency,
        commission_bps=tenant.commission_bps,
        commission_cents=commission_for(amount_cents=amount, bps=tenant.commission_bps),
        stripe_account_id=connect_account or "",
    )
    booking.full_clean(
        exclude=["tenant", "package"], validate_unique=False, validate_constraints=False
    )
    try:
        # The savepoint keeps the outer transaction usable; the unique index
        # makes concurrent inserts for one date wait for each other and lets
        # exactly one through.
        with transaction.atomic():
            booking.save(force_insert=True)
    except IntegrityError as exc:
        if violated_constraint(exc) != ACTIVE_DATE_CONSTRAINT:
            raise
        taken = (
            Booking.objects.filter(
                tenant=tenant, event_date=event_date, status__in=Booking.ACTIVE_STATUSES
            )
            .values_list("status", flat=True)
            .first()
        )
        raise DateUnavailable("booked" if taken == Booking.Status.CONFIRMED else "held") from exc
    BookingAddOn.objects.bulk_create(
        BookingAddOn(
            tenant=tenant,
            booking=booking,
            add_on=add_on,
            slug=add_on.slug,
            title=add_on.title,
            price_cents=add_on.price_cents,
        )
        for add_on in lines
    )
    audit_record(
        tenant=tenant,
        action="booking.held",
        obj=booking,
        changes=diff(
            {},
            {
                "status": booking.status,
                "event_date": event_date,
                "package": package.slug,
                "add_ons": add_on_slugs,
                "amount_cents": amount,
                "currency": booking.currency,
                "hold_expires_at": booking.hold_expires_at,
                # Redacted by the audit log to "<set>".
                "couple_name": couple_name,
                "email": email,
                "phone": phone,
                "notes": notes,
            },
        ),
    )
    return booking


@dataclass(frozen=True)
class CheckoutStarted:
    booking: Booking
    checkout_url: str


def booking_checkout(*, tenant: Tenant, **hold: Any) -> CheckoutStarted:
    """Hold the date, then open a Stripe Checkout Session for it. Not atomic
    on purpose: the hold commits first, so no row lock is held during the
    Stripe call. If Stripe refuses or is unreachable the hold is deleted
    (nothing is left held) and PaymentProviderError is raised. A couple
    retrying its own checkout gets its open hold back (hold_limits.hold_reusable)."""
    reused = hold_limits.hold_reusable(
        tenant=tenant,
        email=hold["email"],
        event_date=hold["event_date"],
        package_slug=hold["package_slug"],
        add_on_slugs=hold["add_on_slugs"],
        now=timezone.now(),
    )
    if reused is not None:
        return CheckoutStarted(booking=reused, checkout_url=reused.checkout_url)
    booking = booking_hold(tenant=tenant, **hold)
    try:
        session = payments.checkout_session_create(tenant=tenant, booking=booking)
    except PaymentProviderError:
        _hold_discard(tenant=tenant, booking_id=booking.pk)
        raise
    Booking.objects.filter(tenant=tenant, pk=booking.pk).update(
        stripe_checkout_session_id=session.id, checkout_url=session.url, updated_at=timezone.now()
    )
    booking.stripe_checkout_session_id = session.id
    booking.checkout_url = session.url
    return CheckoutStarted(booking=booking, checkout_url=session.url)


@transaction.atomic
def _hold_discard(*, tenant: Tenant, booking_id: uuid.UUID) -> None:
    """Compensation for a hold whose checkout could not be opened: the hold
    and its lines go, as if the request never happened."""
    BookingAddOn.objects.filter(tenant=tenant, booking_id=booking_id).delete()
    deleted, _ = Booking.objects.filter(
        tenant=tenant, pk=booking_id, status=Booking.Status.HELD, paid_cents=0
    ).delete()
    if deleted:
        # The hold's own entry committed with it; say why the booking is gone.
        audit_record(
            tenant=tenant,
            action="booking.discarded",
            object_type="bookings.booking",
            object_id=str(booking_id),
            object_repr=f"booking {booking_id}",
            changes={"status": ["held", None]},
        )


# --- payment, expiry ----------------------------------------------------------


@transaction.atomic
def booking_mark_paid(
    *,
    tenant: Tenant,
    booking_id: uuid.UUID | str,
    checkout_session_id: str,
    payment_intent_id: str,
    amount_paid_cents: int,
    event_id: str = "",
) -> str:
    """Stripe says the booking's checkout was paid. Exactly once per booking:
    a held booking is confirmed; a lapsed (expired) one is confirmed if its
    date is still free, else canceled as `date_taken` and refunded in full
    after commit; a booking canceled before payment is refunded in full.
    Returns what happened, for the webhook record."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    if booking.paid_cents:
        if _automatic_refund_owed(booking):
            # An earlier refund attempt failed after commit: this redelivery
            # (or replay) tries again; Stripe's idempotency key makes it one refund.
            _queue_full_refund(tenant=tenant, booking=booking)
            return "payment already recorded; refund retried"
        return "payment already recorded"
    now = timezone.now()
    booking.paid_cents = amount_paid_cents
    booking.stripe_payment_intent_id = payment_intent_id or None
    booking.stripe_checkout_session_id = booking.stripe_checkout_session_id or checkout_session_id
    fields = ["paid_cents", "stripe_payment_intent_id", "stripe_checkout_session_id", "updated_at"]

    if booking.status == Booking.Status.CANCELED:
        booking.save(update_fields=fields)
        audit_record(
            tenant=tenant,
            action="booking.paid",
            obj=booking,
            changes={"paid_cents": [0, amount_paid_cents]},
        )
        _queue_full_refund(tenant=tenant, booking=booking)
        return "paid after cancellation; refunding"

    previous = booking.status
    booking.status = Booking.Status.CONFIRMED
    booking.confirmed_at = now
    try:
        with transaction.atomic():
            booking.save(update_fields=[*fields, "status", "confirmed_at"])
    except IntegrityError as exc:
        # Only possible for a lapsed hold: someone else holds the date now.
        if violated_constraint(exc) != ACTIVE_DATE_CONSTRAINT:
            raise
        booking.status = Booking.Status.CANCELED
        booking.confirmed_at = None
        booking.canceled_at = now
        booking.cancel_reason = DATE_TAKEN
        booking.save(update_fields=[*fields, "status", "canceled_at", "cancel_reason"])
        audit_record(
            tenant=tenant,
            action="booking.canceled",
            obj=booking,
            changes={
                "status": [previous, booking.status],
                "cancel_reason": ["", DATE_TAKEN],
                "paid_cents": [0, amount_paid_cents],
            },
        )
        _queue_full_refund(tenant=tenant, booking=booking)
        _queue_mail(tasks.booking_mail_canceled, tenant=tenant, booking=booking)
        return "paid after the hold lapsed and the date was taken; refunding"
    audit_record(
        tenant=tenant,
        action="booking.confirmed",
        obj=booking,
        changes={"status": [previous, booking.status], "paid_cents": [0, amount_paid_cents]},
    )
    _queue_mail(tasks.booking_mail_confirmed, tenant=tenant, booking=booking)
    return "confirmed" if previous == Booking.Status.HELD else "confirmed after the hold lapsed"


def _automatic_refund_owed(booking: Booking) -> bool:
    return (
        booking.status == Booking.Status.CANCELED
        and booking.cancel_reason in FULL_REFUND_REASONS
        and booking.refunded_cents < booking.paid_cents
    )


def _queue_full_refund(*, tenant: Tenant, booking: Booking) -> None:
    """Queue (in this transaction: the outbox) a refund of what is left of
    the payment. The idempotency key is the booking's, so however often it
    is queued or retried, Stripe makes one refund."""
    tasks.booking_refund.enqueue(
        tenant_id=tenant.pk,
        booking_id=str(booking.pk),
        amount_cents=booking.paid_cents - booking.refunded_cents,
        idempotency_key=f"altar-booking-{booking.pk}-refund-all",
        reason=booking.cancel_reason,
    )


def _queue_mail(task, *, tenant: Tenant, booking: Booking) -> None:
    """Queue an e-mail task in this transaction (the outbox): the worker
    sends it after commit, never for a rolled-back change."""
    task.enqueue(tenant_id=tenant.pk, booking_id=str(booking.pk))


@transaction.atomic
def booking_expire(
    *, tenant: Tenant, booking_id: uuid.UUID | str, reason: str = "hold_lapsed", event_id: str = ""
) -> str:
    """Release a held booking's date (session expired, payment failed, hold
    lapsed). A confirmed or canceled booking is left alone: an `expired`
    event after `completed` never un-confirms."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    if booking.status != Booking.Status.HELD:
        return f"left {booking.status}"
    booking.status = Booking.Status.EXPIRED
    booking.expired_at = timezone.now()
    booking.save(update_fields=["status", "expired_at", "updated_at"])
    audit_record(
        tenant=tenant,
        action="booking.expired",
        obj=booking,
        changes={"status": ["held", "expired"], "expire_reason": [None, reason]},
    )
    return "expired"


def bookings_expire_lapsed(*, now: dt.datetime | None = None) -> int:
    """Mark every lapsed hold `expired`, across tenants (the caller disables
    scopes: this is the `expire_holds` command). Bookkeeping only: a lapsed
    hold already stops occupying its date."""
    now = now or timezone.now()
    with transaction.atomic():
        # Holds another transaction has locked (being paid or canceled right
        # now) are skipped: that transaction decides, the next run catches up.
        return _expire_lapsed(Booking.objects.all(), now=now, skip_locked=True)


def _expire_lapsed(bookings, *, now: dt.datetime, skip_locked: bool = False) -> int:
    """Mark the lapsed holds among `bookings` expired, one audit entry each.
    Call inside atomic. The rows are locked first and then updated by id, so
    the entries name exactly the bookings this changed (Django's UPDATE
    cannot return them)."""
    lapsed = list(
        bookings.filter(status=Booking.Status.HELD, hold_expires_at__lte=now)
        .select_related("tenant")
        .select_for_update(of=("self",), skip_locked=skip_locked)
        .order_by("pk")
    )
    if not lapsed:
        return 0
    Booking.objects.filter(pk__in=[booking.pk for booking in lapsed]).update(
        status=Booking.Status.EXPIRED, expired_at=now, updated_at=now
    )
    audit_record_many(
        [
            audit_entry(
                tenant=booking.tenant,
                action="booking.expired",
                obj=booking,
                changes={"status": ["held", "expired"], "expire_reason": [None, "hold_lapsed"]},
            )
            for booking in lapsed
        ]
    )
    return len(lapsed)


# --- cancellation and refunds -------------------------------------------------


def booking_cancel(
    *, tenant: Tenant, booking_id: uuid.UUID | str, refund_cents: int | None = None
) -> Booking:
    """Staff cancel a held or confirmed booking, freeing its date, refunding
    `refund_cents` of the payment (None: all of it; 0: nothing). The refund
    is made first, outside any transaction, with a key fixed by booking and
    amount, so a retried cancel never refunds twice; if Stripe fails nothing
    changes (PaymentProviderError)."""
    booking = _booking_for_cancel(tenant=tenant, booking_id=booking_id)
    refundable = booking.paid_cents - booking.refunded_cents
    amount = refundable if refund_cents is None else refund_cents
    if amount < 0 or amount > refundable:
        raise RefundTooLarge()
    refund = None
    if amount:
        refund = payments.refund_create(
            booking=booking,
            amount_cents=amount,
            idempotency_key=f"altar-booking-{booking.pk}-cancel-{amount}",
        )
    with transaction.atomic():
        locked = _locked_booking(tenant=tenant, booking_id=booking.pk)
        if refund is not None:
            _refund_apply(
                tenant=tenant,
                booking=locked,
                stripe_refund_id=refund.id,
                amount_cents=refund.amount_cents,
                status=refund.status,
                reason=CANCELED_BY_STAFF,
            )
        if locked.status not in Booking.ACTIVE_STATUSES:
            # Canceled (or expired) meanwhile; the refund, if any, is recorded.
            raise BookingNotCancelable()
        previous = locked.status
        locked.status = Booking.Status.CANCELED
        locked.canceled_at = timezone.now()
        locked.cancel_reason = (
            CANCELED_BY_STAFF if locked.paid_cents else CANCELED_BY_STAFF + "_before_payment"
        )
        locked.save(update_fields=["status", "canceled_at", "cancel_reason", "updated_at"])
        audit_record(
            tenant=tenant,
            action="booking.canceled",
            obj=locked,
            changes={
                "status": [previous, locked.status],
                "cancel_reason": ["", locked.cancel_reason],
            },
        )
        _queue_mail(tasks.booking_mail_canceled, tenant=tenant, booking=locked)
    return locked


def _booking_for_cancel(*, tenant: Tenant, booking_id: uuid.UUID | str) -> Booking:
    booking = Booking.objects.filter(tenant=tenant, pk=booking_id).first()
    if booking is None:
        raise BookingNotFound()
    if booking.status not in Booking.ACTIVE_STATUSES:
        raise BookingNotCancelable()
    return booking


@transaction.atomic
def booking_refund_record(
    *,
    tenant: Tenant,
    booking_id: uuid.UUID | str,
    stripe_refund_id: str,
    amount_cents: int,
    status: str,
    reason: str,
) -> bool:
    """Record a refund Stripe made; False if it was already recorded."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    return _refund_apply(
        tenant=tenant,
        booking=booking,
        stripe_refund_id=stripe_refund_id,
        amount_cents=amount_cents,
        status=status,
        reason=reason,
    )


def _refund_apply(
    *,
    tenant: Tenant,
    booking: Booking,
    stripe_refund_id: str,
    amount_cents: int,
    status: str,
    reason: str,
) -> bool:
    """Precondition: `booking` is locked. Keyed on Stripe's refund id, so the
    webhook and the platform recording the same refund count it once. The
    commission is reversed in proportion to what has been refunded."""
    refund, created = BookingRefund.objects.get_or_create(
        stripe_refund_id=stripe_refund_id,
        defaults={
            "tenant": tenant,
            "booking": booking,
            "amount_cents": amount_cents,
            "status": status,
            "reason": reason,
        },
    )
    if not created:
        if refund.reason == "stripe_dashboard" and reason != refund.reason:
            # The webhook got here first; we know better why it was made.
            refund.reason = reason
            refund.save(update_fields=["reason"])
        return False
    if status in ("failed", "canceled"):
        audit_record(
            tenant=tenant,
            action="booking.refund_failed",
            obj=booking,
            changes={"refund": [None, stripe_refund_id], "refund_status": [None, status]},
        )
        return True
    before = {
        "refunded_cents": booking.refunded_cents,
        "commission_refunded_cents": booking.commission_refunded_cents,
    }
    booking.refunded_cents = min(booking.paid_cents, booking.refunded_cents + amount_cents)
    base = booking.paid_cents or booking.amount_cents
    booking.commission_refunded_cents = (
        _round_half_up(Decimal(booking.commission_cents) * booking.refunded_cents / base)
        if base
        else 0
    )
    booking.save(update_fields=["refunded_cents", "commission_refunded_cents", "updated_at"])
    audit_record(
        tenant=tenant,
        action="booking.refunded",
        obj=booking,
        changes={
            "refund": [None, stripe_refund_id],
            "refund_amount_cents": [None, amount_cents],
            "refund_reason": [None, reason],
            **diff(
                before,
                {
                    "refunded_cents": booking.refunded_cents,
                    "commission_refunded_cents": booking.commission_refunded_cents,
                },
            ),
        },
    )
    return True


@transaction.atomic
def booking_record_refunds(
    *, tenant: Tenant, payment_intent_id: str, refunds: list[dict[str, Any]], event_id: str = ""
) -> int | None:
    """`charge.refunded`: record refunds (made anywhere, e.g. Stripe's
    dashboard) on the booking paid by that PaymentIntent. Returns how many
    were new, or None when no booking of this tenant matches."""
    if not payment_intent_id:
        return None
    booking = (
        Booking.objects.select_for_update(of=("self",))
        .filter(tenant=tenant, stripe_payment_intent_id=payment_intent_id)
        .first()
    )
    if booking is None:
        return None
    return sum(
        _refund_apply(
            tenant=tenant,
            booking=booking,
            stripe_refund_id=refund["id"],
            amount_cents=refund["amount"],
            status=refund["status"],
            reason="stripe_dashboard",
        )
        for refund in refunds
    )


# --- blackout dates -----------------------------------------------------------


@transaction.atomic
def blackout_date_set(*, tenant: Tenant, date: dt.date, reason: str = "") -> BlackoutDate:
    """Black out a date (or change its reason). Existing bookings on the date
    are kept: staff decide about them."""
    blackout, created = BlackoutDate.objects.get_or_create(
        tenant=tenant, date=date, defaults={"reason": reason}
    )
    if created:
        audit_record(
            tenant=tenant,
            action="blackout.added",
            obj=blackout,
            changes={"date": [None, date.isoformat()], "reason": [None, reason]},
        )
    elif blackout.reason != reason:
        audit_record(
            tenant=tenant,
            action="blackout.updated",
            obj=blackout,
            changes={"reason": [blackout.reason, reason]},
        )
        blackout.reason = reason
        blackout.save(update_fields=["reason"])
    return blackout


@transaction.atomic
def blackout_range_add(*, tenant: Tenant, start: dt.date, end: dt.date, reason: str = "") -> int:
    """Black out every date from start to end inclusive; dates already
    blacked out keep their reason. Returns how many were added."""
    if end < start:
        raise ValidationError(
            {"end": ValidationError("The range ends before it starts.", code="invalid")}
        )
    if (end - start).days > 366:
        raise ValidationError(
            {"end": ValidationError("At most 367 days at once.", code="too_long")}
        )
    existing = BlackoutDate.objects.filter(tenant=tenant, date__range=(start, end))
    before = set(existing.values_list("pk", flat=True))
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    BlackoutDate.objects.bulk_create(
        [BlackoutDate(tenant=tenant, date=day, reason=reason) for day in days],
        ignore_conflicts=True,
    )
    # ignore_conflicts gives back no ids: the new rows are those not there before.
    added = list(existing.exclude(pk__in=before).order_by("date"))
    audit_record_many(
        [
            audit_entry(
                tenant=tenant,
                action="blackout.added",
                obj=blackout,
                changes={"date": [None, blackout.date.isoformat()], "reason": [None, reason]},
            )
            for blackout in added
        ]
    )
    return len(added)


@transaction.atomic
def blackout_date_delete(*, tenant: Tenant, date: dt.date) -> None:
    for blackout in BlackoutDate.objects.select_for_update().filter(tenant=tenant, date=date):
        blackout_id = blackout.pk  # delete() clears it
        blackout.delete()
        audit_record(
            tenant=tenant,
            action="blackout.deleted",
            object_type="bookings.blackoutdate",
            object_id=str(blackout_id),
            object_repr=str(blackout),
            changes={"date": [date.isoformat(), None], "reason": [blackout.reason, None]},
        )


# --- Idempotency-Key ------------------------------------------------------------

IDEMPOTENCY_TTL = dt.timedelta(hours=24)
# A first request that has run this long died with its process: let the key be used again.
IDEMPOTENCY_ABANDONED_AFTER = dt.timedelta(minutes=5)


def request_fingerprint(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def idempotent_call(
    *, tenant: Tenant, key: str, fingerprint: str, run: Callable[[], tuple[int, dict]]
) -> tuple[int, dict]:
    """Run `run` once per (tenant, key) and body fingerprint; within 24 hours
    the same key and body get the stored answer again. A different body is
    IdempotencyKeyReused; a first request still running is
    IdempotencyInProgress. If `run` fails, the key is released so the client
    can retry. The claim commits before `run`, so a concurrent second
    request sees it."""
    record = _idempotency_claim(tenant=tenant, key=key, fingerprint=fingerprint)
    if record.state == IdempotencyRecord.State.DONE:
        return record.response_status, record.response_body
    try:
        status, body = run()
    except BaseException:
        IdempotencyRecord.objects.filter(
            pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS
        ).delete()
        raise
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.DONE, response_status=status, response_body=body
    )
    return status, body


def _idempotency_claim(*, tenant: Tenant, key: str, fingerprint: str) -> IdempotencyRecord:
    now = timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    tenant=tenant, key=key, request_hash=fingerprint, created_at=now
                )
        except IntegrityError as exc:
            if violated_constraint(exc) != IDEMPOTENCY_CONSTRAINT:
                raise
        existing = IdempotencyRecord.objects.filter(tenant=tenant, key=key).first()
        if existing is None:
            continue  # released meanwhile: claim again
        stale = existing.created_at <= now - (
            IDEMPOTENCY_TTL
            if existing.state == IdempotencyRecord.State.DONE
            else IDEMPOTENCY_ABANDONED_AFTER
        )
        if stale:
            # Conditional delete: of several requests finding it stale, one removes it.
            IdempotencyRecord.objects.filter(
                pk=existing.pk, created_at=existing.created_at
            ).delete()
            continue
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if existing.state == IdempotencyRecord.State.IN_PROGRESS:
            raise IdempotencyInProgress()
        return existing
    raise IdempotencyInProgress()


# --- staff: resend the confirmation e-mail --------------------------------------


@transaction.atomic
def booking_confirmation_resend(*, tenant: Tenant, booking_id: uuid.UUID | str) -> None:
    """Send the couple's confirmation e-mail again (staff asked: lost mail,
    typo fixed). Clears the "already sent" mark and queues the mail task in
    the same transaction, so the task cannot see the old mark and skip, and
    a rolled-back request queues nothing. Only confirmed bookings: raises
    BookingNotFound or ValidationError (code `booking_not_confirmed`)."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    if booking.status != Booking.Status.CONFIRMED:
        raise ValidationError(
            "Only confirmed bookings have a confirmation to resend.",
            code="booking_not_confirmed",
        )
    booking.confirmation_mailed_at = None
    booking.save(update_fields=["confirmation_mailed_at", "updated_at"])
    # The couple only: staff were told when the booking was confirmed.
    tasks.booking_mail_confirmed.enqueue(
        tenant_id=tenant.pk, booking_id=str(booking.pk), notify_staff=False
    )
