"""Booking writes: holds and checkout, payment, expiry, hold release,
cancellation, blackout dates, resending the confirmation. One unit of work
each. The refund ledger is bookings.refunds; money rules are bookings.money.

Preconditions: run inside the tenant's scope (API, admin, TenantCommand,
webhook receiver) or `scopes_disabled()`. Services nest inside a caller's
transaction (the webhook receiver's), so none is `durable`.

Races are decided by the database: the partial unique constraint
`bookings_booking_tenant_event_date_active_uniq` admits one held-or-confirmed
booking per tenant and date; state transitions re-read the booking under
`select_for_update` and guard on its current state, so any number of
deliveries of a Stripe event, in any order, has one effect. Stripe calls are
never made while a row lock is held: checkout calls Stripe between two short
transactions; e-mails, refunds and expiring Checkout Sessions are tasks
queued in the deciding transaction (bookings.outbox) and run
after commit.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from bookings import agreements, hold_limits, money, outbox, payments, refunds
from bookings.errors import (
    AddOnNotAllowed,
    AmountNotChargeable,
    BookingChangedMeanwhile,
    BookingNotCancelable,
    DateUnavailable,
    HoldEnded,
    HoldNotReleasable,
    PackageNotOffered,
    PaymentProviderError,
    PolicyForbidsChange,
    RefundTooLarge,
)
from bookings.manage_links import manage_url
from bookings.models import (
    BlackoutDate,
    Booking,
    BookingAddOn,
    BookingDateChange,
    BookingDispute,
    BookingPayment,
    BookingRefund,
    CancellationRequest,
    PaymentReview,
)
from bookings.selectors import payment_plan_for, tenant_today, window_refusal
from catalog.models import Package
from config.db import violated_constraint
from tenants.audit import audit_entry, audit_record, audit_record_many, diff, snapshot
from tenants.models import Tenant

logger = logging.getLogger("altar.bookings")

ACTIVE_DATE_CONSTRAINT = "bookings_booking_tenant_event_date_active_uniq"
BLACKOUT_CONSTRAINT = "bookings_blackoutdate_tenant_date_uniq"

CancelReason = Booking.CancelReason
# A hold outlives its Checkout Session by this much, so a payment completed in
# the session's last second (its webhook a little later) still finds the hold.
HOLD_GRACE = dt.timedelta(minutes=10)

_locked_booking = refunds.locked_booking


def hold_expiry(*, tenant: Tenant, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """(session expires_at, hold expires_at) for a checkout starting `now`."""
    session_expires_at = payments.session_expires_at(
        now=now, hold=dt.timedelta(minutes=tenant.hold_minutes)
    )
    return session_expires_at, session_expires_at + HOLD_GRACE


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
    accept_terms_version: int | None = None,
    terms_accepted_from: str = "",
    answers: dict | None = None,
    now: dt.datetime | None = None,
) -> Booking:
    """Hold the date for `tenant.hold_minutes`, pricing the package and
    add-ons as they are now. Raises PackageNotOffered, AddOnNotAllowed,
    DateUnavailable (reason in `.reason`), HoldLimitReached or
    ValidationError; on any of them nothing is written. `client_address`:
    the API client's, for the per-address hold limit (and the terms
    acceptance record, unless `terms_accepted_from` names the client's own
    address). `accept_terms_version`: the terms version the couple
    accepted; required when the tenant has terms (TermsNotAccepted)."""
    now = now or timezone.now()
    terms = agreements.terms_check(tenant=tenant, accepted_version=accept_terms_version)
    # Raises AnswersInvalid (per-question codes) before anything is held.
    cleaned_answers = agreements.answers_clean(tenant=tenant, raw=answers)
    # The cancellation tiers in force now become the booking's own (None:
    # the tenant has no tiers, so staff decide any refund, as before).
    cancellation_policy = agreements.policy_for(tenant=tenant).cancellation_tiers or None
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
    problem = money.stripe_amount_problem(amount_cents=amount, currency=tenant.currency)
    if problem:
        raise AmountNotChargeable(problem)
    connect_account = tenant.connect_account_for_charges
    plan = payment_plan_for(package)
    split = money.plan_split(
        amount_cents=amount,
        currency=tenant.currency,
        plan=plan,
        event_date=event_date,
        today=tenant_today(tenant=tenant, now=now),
    )
    booking = Booking(
        tenant=tenant,
        package=package,
        event_date=event_date,
        couple_name=couple_name,
        email=email,
        phone=phone,
        notes=notes,
        status=Booking.Status.HELD,
        hold_expires_at=hold_expiry(tenant=tenant, now=now)[1],
        hold_email_key=limit_keys.email,
        hold_client_key=limit_keys.address,
        amount_cents=amount,
        currency=tenant.currency,
        commission_bps=tenant.commission_bps,
        commission_cents=money.commission_for(amount_cents=amount, bps=tenant.commission_bps),
        stripe_account_id=connect_account or "",
        payment_plan=plan,
        deposit_cents=0 if split.pays_in_full else split.due_now_cents,
        balance_due_on=split.balance_due_on,
        terms_version=terms,
        terms_accepted_at=now if terms else None,
        terms_accepted_name=couple_name if terms else "",
        terms_accepted_address=(terms_accepted_from or client_address)[:64] if terms else "",
        answers=cleaned_answers,
        cancellation_policy=cancellation_policy,
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
    booked_lines = BookingAddOn.objects.bulk_create(
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
    # The lines as if prefetched: checkout, Stripe's line items and the
    # response read them, and each read would be a query.
    prefetched = booking.add_on_lines.get_queryset()
    prefetched._result_cache, prefetched._prefetch_done = list(booked_lines), True
    booking._prefetched_objects_cache = {"add_on_lines": prefetched}
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
                "terms_version": terms.version if terms else None,
                # Redacted by the audit log to "<set>".
                "couple_name": couple_name,
                "email": email,
                "phone": phone,
                "notes": notes,
                # Only a deposit booking says how it pays (pay in full: as before).
                **(
                    {
                        "payment_plan": plan,
                        "deposit_cents": booking.deposit_cents,
                        "balance_due_on": booking.balance_due_on,
                    }
                    if booking.balance_due_on
                    else {}
                ),
            },
        ),
    )
    return booking


@dataclass(frozen=True)
class CheckoutStarted:
    booking: Booking
    checkout_url: str


def booking_checkout(
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
    accept_terms_version: int | None = None,
    terms_accepted_from: str = "",
    answers: dict | None = None,
) -> CheckoutStarted:
    """Hold the date, then open a Stripe Checkout Session for it. Not atomic
    on purpose: the hold commits first, so no row lock is held during the
    Stripe call. The session's `expires_at` lies inside Stripe's window with
    a margin that covers the moments between the hold and the call, and the
    hold outlives it by HOLD_GRACE. If Stripe refuses or is unreachable the
    hold is deleted (nothing is left held) and PaymentProviderError is
    raised. A couple retrying its own checkout gets its open hold back
    (hold_limits.hold_reusable)."""
    # Before reusing a hold too: a couple retrying must still accept the
    # terms in force.
    agreements.terms_check(tenant=tenant, accepted_version=accept_terms_version)
    agreements.answers_clean(tenant=tenant, raw=answers)
    reused = hold_limits.hold_reusable(
        tenant=tenant,
        email=email,
        couple_name=couple_name,
        event_date=event_date,
        package_slug=package_slug,
        add_on_slugs=add_on_slugs,
        now=timezone.now(),
        session_grace=HOLD_GRACE,
    )
    if reused is not None:
        return CheckoutStarted(booking=reused, checkout_url=reused.checkout_url)
    booking = booking_hold(
        tenant=tenant,
        package_slug=package_slug,
        add_on_slugs=add_on_slugs,
        event_date=event_date,
        couple_name=couple_name,
        email=email,
        phone=phone,
        notes=notes,
        client_address=client_address,
        accept_terms_version=accept_terms_version,
        terms_accepted_from=terms_accepted_from,
        answers=answers,
    )
    # The hold was set to outlive the session by HOLD_GRACE; the session's
    # expiry keeps a margin inside Stripe's window for the time between.
    session_expires_at = booking.hold_expires_at - HOLD_GRACE
    try:
        customer_id = payments.customer_create(booking=booking) if booking.balance_due_on else ""
        session = payments.checkout_session_create(
            customer_id=customer_id,
            tenant=tenant,
            booking=booking,
            package_line_cents=money.package_line_cents(
                amount_cents=booking.amount_cents,
                add_on_cents=[line.price_cents for line in booking.add_on_lines.all()],
            ),
            expires_at=session_expires_at,
        )
    except PaymentProviderError:
        # No session id came back, so there is nothing to expire at Stripe: a
        # session created before a timeout has a URL nobody received.
        _hold_discard(tenant=tenant, booking_id=booking.pk)
        raise
    with transaction.atomic():
        # Only a hold still held gets its payment page: staff may have
        # released it while Stripe opened the session (no session id was
        # known then, so nothing could expire it).
        still_held = Booking.objects.filter(
            tenant=tenant, pk=booking.pk, status=Booking.Status.HELD
        ).update(
            stripe_checkout_session_id=session.id,
            checkout_url=session.url,
            stripe_customer_id=customer_id,
            updated_at=timezone.now(),
        )
        if not still_held:
            Booking.objects.filter(tenant=tenant, pk=booking.pk).update(
                stripe_checkout_session_id=session.id, updated_at=timezone.now()
            )
            outbox.enqueue("checkout_session_expire", tenant_id=tenant.pk, session_id=session.id)
    if not still_held:
        raise HoldEnded()
    booking.stripe_customer_id = customer_id
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
) -> str:
    """Stripe says the booking's checkout was paid. Exactly once per booking:
    a held booking is confirmed; a lapsed (expired) one is confirmed if its
    date is still free, else canceled as `date_taken` and refunded in full
    after commit; a booking canceled before payment is refunded in full.
    Returns what happened, for the webhook record."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    if booking.paid_cents:
        return "payment already recorded"
    now = timezone.now()
    deposit_fee, _ = money.payment_fees(
        commission_cents=booking.commission_cents,
        amount_cents=booking.amount_cents,
        deposit_cents=booking.due_at_checkout_cents,
    )
    BookingPayment.objects.create(
        tenant=tenant,
        booking=booking,
        kind=BookingPayment.Kind.DEPOSIT,
        status=BookingPayment.Status.SUCCEEDED,
        amount_cents=amount_paid_cents,
        application_fee_cents=deposit_fee,
        stripe_payment_intent_id=payment_intent_id or None,
        stripe_checkout_session_id=checkout_session_id,
        succeeded_at=now,
    )
    # Refunds that arrived before the payment count now; paid_cents from the ledger.
    refunds.ledger_refresh(booking)
    if payment_intent_id:
        # Refunds made at Stripe before this payment reached Altar found no
        # booking when their events came: fetch them once, after commit.
        outbox.enqueue("payment_refunds_sync", tenant_id=tenant.pk, booking_id=str(booking.pk))
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
        booking.cancel_reason = CancelReason.DATE_TAKEN
        booking.save(update_fields=[*fields, "status", "canceled_at", "cancel_reason"])
        audit_record(
            tenant=tenant,
            action="booking.canceled",
            obj=booking,
            changes={
                "status": [previous, booking.status],
                "cancel_reason": ["", CancelReason.DATE_TAKEN],
                "paid_cents": [0, amount_paid_cents],
            },
        )
        _queue_full_refund(tenant=tenant, booking=booking)
        _queue_mail("booking_mail_canceled", tenant=tenant, booking=booking)
        return "paid after the hold lapsed and the date was taken; refunding"
    audit_record(
        tenant=tenant,
        action="booking.confirmed",
        obj=booking,
        changes={"status": [previous, booking.status], "paid_cents": [0, amount_paid_cents]},
    )
    if booking.balance_due_on and booking.balance_state == Booking.BalanceState.NONE:
        booking.balance_state = Booking.BalanceState.SCHEDULED
        booking.save(update_fields=["balance_state", "updated_at"])
        # The card saved at checkout is read from Stripe after commit.
        outbox.enqueue("booking_card_save", tenant_id=tenant.pk, booking_id=str(booking.pk))
    _queue_mail("booking_mail_confirmed", tenant=tenant, booking=booking)
    if previous == Booking.Status.PAYMENT_PROCESSING:
        return "confirmed: the delayed payment succeeded"
    return "confirmed" if previous == Booking.Status.HELD else "confirmed after the hold lapsed"


# Why a refund is made, from why the booking was canceled: a payment that
# lands after a staff cancel (a delayed payment settling) is the staff's.
AUTOMATIC_REFUND_REASON = {
    CancelReason.DATE_TAKEN: BookingRefund.Reason.DATE_TAKEN,
    CancelReason.HOLD_RELEASED: BookingRefund.Reason.HOLD_RELEASED,
}


def _queue_full_refund(*, tenant: Tenant, booking: Booking) -> None:
    """Refund what is left of the payment in full (a payment for a booking
    that can no longer have it). Precondition: `booking` locked. The refund
    is decided here and sent by the outbox after commit."""
    refunds.refunded_refresh(booking)  # refunds that arrived before the payment
    amount = refunds.refundable_now(booking)
    if amount:
        _refund_queue(
            tenant=tenant,
            booking=booking,
            amount_cents=amount,
            reason=AUTOMATIC_REFUND_REASON.get(
                booking.cancel_reason, BookingRefund.Reason.STAFF_CANCEL
            ),
        )


def _refund_queue(*, tenant: Tenant, booking: Booking, amount_cents: int, reason: str) -> None:
    for refund in refunds.refund_reserve(
        tenant=tenant, booking=booking, amount_cents=amount_cents, reason=reason
    ):
        outbox.enqueue("refund_send", tenant_id=tenant.pk, refund_id=refund.pk)


def _queue_mail(task_name: str, *, tenant: Tenant, booking: Booking) -> None:
    """Queue an e-mail task in this transaction (the outbox): the worker
    sends it after commit, never for a rolled-back change."""
    outbox.enqueue(task_name, tenant_id=tenant.pk, booking_id=str(booking.pk))


@transaction.atomic
def booking_expire(
    *, tenant: Tenant, booking_id: uuid.UUID | str, reason: str = "hold_lapsed"
) -> str:
    """Release a held booking's date (session expired, payment failed, hold
    lapsed, the couple canceled on Stripe's page). A confirmed or canceled
    booking is left alone: an `expired` event after `completed` never
    un-confirms. A delayed payment still processing keeps its date unless
    that payment failed (`payment_failed`): neither a lapsed hold nor a stray
    `expired` event frees it. When the hold ends before its Checkout Session
    does (`couple_canceled`: Stripe's Cancel link only redirects), the
    session is expired at Stripe after commit (outbox), so it can no longer
    be paid."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    releasable = [Booking.Status.HELD]
    if reason == PAYMENT_FAILED:
        releasable.append(Booking.Status.PAYMENT_PROCESSING)
    if booking.status not in releasable:
        return f"left {booking.status}"
    previous = booking.status
    booking.status = Booking.Status.EXPIRED
    booking.expired_at = timezone.now()
    booking.expire_reason = reason
    booking.save(update_fields=["status", "expired_at", "expire_reason", "updated_at"])
    if reason in EARLY_END_REASONS:
        _queue_session_expiry(tenant=tenant, booking=booking)
    audit_record(
        tenant=tenant,
        action="booking.expired",
        obj=booking,
        changes={"status": [previous, "expired"], "expire_reason": [None, reason]},
    )
    return "expired"


# Reasons a hold ends while its Checkout Session may still be payable.
EARLY_END_REASONS = ("couple_canceled",)


def _queue_session_expiry(*, tenant: Tenant, booking: Booking) -> None:
    if booking.stripe_checkout_session_id:
        outbox.enqueue(
            "checkout_session_expire",
            tenant_id=tenant.pk,
            session_id=booking.stripe_checkout_session_id,
        )


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


# --- payments reported by Stripe: verified, delayed, disputed ------------------

PAYMENT_FAILED = "payment_failed"


@dataclass(frozen=True)
class ReportedPayment:
    """What a Checkout Session event says was paid, as Stripe sent it."""

    event_id: str
    checkout_session_id: str
    payment_intent_id: str
    amount_total: int | None
    currency: str
    payment_status: str


def _payment_mismatch(booking: Booking, payment: ReportedPayment) -> str | None:
    """Which part of the payment does not match the booking, else None.
    The session must be the one checkout opened for this booking (its id is
    stored before the couple ever sees the payment page)."""
    if payment.checkout_session_id != booking.stripe_checkout_session_id:
        return PaymentReview.Reason.SESSION_MISMATCH
    if payment.currency.lower() != booking.currency.lower():
        return PaymentReview.Reason.CURRENCY_MISMATCH
    if payment.amount_total != booking.due_at_checkout_cents:
        return PaymentReview.Reason.AMOUNT_MISMATCH
    return None


def _payment_review_record(
    *, tenant: Tenant, booking: Booking, payment: ReportedPayment, reason: str
) -> str:
    """Precondition: `booking` is locked. Records the mismatch once per event
    (a redelivery or replay finds it), audited, and logs it for ops."""
    review, created = PaymentReview.objects.get_or_create(
        stripe_event_id=payment.event_id,
        defaults={
            "tenant": tenant,
            "booking": booking,
            "reason": reason,
            "stripe_checkout_session_id": payment.checkout_session_id,
            "stripe_payment_intent_id": payment.payment_intent_id,
            "amount_cents": payment.amount_total or 0,
            "currency": payment.currency.lower()[:3],
            "payment_status": payment.payment_status[:30],
        },
    )
    if created:
        audit_record(
            tenant=tenant,
            action="booking.payment_review",
            obj=booking,
            changes={
                "payment_review": [None, reason],
                "stripe_checkout_session_id": [None, payment.checkout_session_id],
                "stripe_payment_intent_id": [None, payment.payment_intent_id],
                "reported_amount_cents": [None, payment.amount_total],
                "reported_currency": [None, payment.currency],
            },
        )
        # Ids only: no couple's name or e-mail.
        logger.warning(
            "payment for booking %s needs review (%s): session %s, payment intent %s",
            booking.pk,
            reason,
            payment.checkout_session_id,
            payment.payment_intent_id or "-",
        )
    return f"needs review: {review.reason}"


@transaction.atomic
def booking_payment_received(
    *, tenant: Tenant, booking_id: uuid.UUID | str, payment: ReportedPayment
) -> str:
    """Stripe says the booking's checkout was paid (`completed` with
    payment_status "paid", or `async_payment_succeeded`). Confirms through
    booking_mark_paid only when the session, amount and currency are the
    booking's; otherwise the payment is recorded for review and the booking
    is left as it is. Returns the outcome for the webhook record."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    mismatch = _payment_mismatch(booking, payment)
    if mismatch:
        return _payment_review_record(
            tenant=tenant, booking=booking, payment=payment, reason=mismatch
        )
    return booking_mark_paid(
        tenant=tenant,
        booking_id=booking.pk,
        checkout_session_id=payment.checkout_session_id,
        payment_intent_id=payment.payment_intent_id,
        amount_paid_cents=payment.amount_total or 0,
    )


@transaction.atomic
def booking_payment_processing(
    *, tenant: Tenant, booking_id: uuid.UUID | str, payment: ReportedPayment
) -> str:
    """`checkout.session.completed` with payment_status "unpaid": a delayed
    method (bank debit) will settle later. The date stays occupied
    (`payment_processing`, which no lapse or `expire_holds` ends) until
    `async_payment_succeeded` confirms or `async_payment_failed` frees it.
    Order-independent: a booking already confirmed, processing, canceled or
    whose payment already failed is left alone; a lapsed hold takes its
    date back if it is still free, else it is canceled (`date_taken`) and
    the payment, if it succeeds later, is refunded by booking_mark_paid."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    mismatch = _payment_mismatch(booking, payment)
    if mismatch:
        return _payment_review_record(
            tenant=tenant, booking=booking, payment=payment, reason=mismatch
        )
    revivable = booking.status == Booking.Status.EXPIRED and booking.expire_reason != PAYMENT_FAILED
    if booking.status != Booking.Status.HELD and not revivable:
        return f"left {booking.status}"
    previous = booking.status
    booking.status = Booking.Status.PAYMENT_PROCESSING
    booking.stripe_payment_intent_id = payment.payment_intent_id or None
    fields = ["status", "stripe_payment_intent_id", "updated_at"]
    try:
        with transaction.atomic():
            booking.save(update_fields=fields)
    except IntegrityError as exc:
        # Only possible for a lapsed hold: another booking occupies the date.
        if violated_constraint(exc) != ACTIVE_DATE_CONSTRAINT:
            raise
        booking.status = Booking.Status.CANCELED
        booking.canceled_at = timezone.now()
        booking.cancel_reason = CancelReason.DATE_TAKEN
        booking.save(update_fields=[*fields, "canceled_at", "cancel_reason"])
        audit_record(
            tenant=tenant,
            action="booking.canceled",
            obj=booking,
            changes={
                "status": [previous, booking.status],
                "cancel_reason": ["", CancelReason.DATE_TAKEN],
            },
        )
        _queue_mail("booking_mail_canceled", tenant=tenant, booking=booking)
        return "delayed payment after the hold lapsed and the date was taken; canceled"
    audit_record(
        tenant=tenant,
        action="booking.payment_processing",
        obj=booking,
        changes={"status": [previous, booking.status]},
    )
    return "payment processing"


@transaction.atomic
def payment_review_resolve(*, tenant: Tenant, review_id: int) -> bool:
    """Staff checked a payment needing review in Stripe (and refunded or
    settled it there): it leaves the attention lists. Once; audited on the
    booking. Returns whether it was open."""
    review = (
        PaymentReview.objects.select_for_update(of=("self",))
        .filter(tenant=tenant, pk=review_id, resolved_at__isnull=True)
        .select_related("booking")
        .first()
    )
    if review is None:
        return False
    review.resolved_at = timezone.now()
    review.save(update_fields=["resolved_at"])
    audit_record(
        tenant=tenant,
        action="booking.payment_review_resolved",
        obj=review.booking,
        changes={
            "payment_review": [review.reason, None],
            "stripe_event_id": [review.stripe_event_id, review.stripe_event_id],
        },
    )
    return True


@dataclass(frozen=True)
class ReportedDispute:
    """A Stripe Dispute object as an event carried it."""

    dispute_id: str
    charge_id: str
    payment_intent_id: str
    amount: int
    currency: str
    reason: str
    status: str
    event_created: int


@transaction.atomic
def booking_dispute_record(*, tenant: Tenant, dispute: ReportedDispute) -> str | None:
    """`charge.dispute.*`: record the dispute on the booking paid by its
    PaymentIntent (None when no booking of this tenant matches). One row per
    Stripe dispute; an event older than the one last applied, or one that
    would reopen a closed dispute, changes nothing. Audited."""
    if not dispute.payment_intent_id:
        return None
    # The booking's checkout payment, or any later one (a balance, a date
    # change) from its ledger.
    paid_by = BookingPayment.objects.filter(
        tenant=tenant, stripe_payment_intent_id=dispute.payment_intent_id
    ).values_list("booking_id", flat=True)
    booking = (
        Booking.objects.select_for_update(of=("self",))
        .filter(
            Q(stripe_payment_intent_id=dispute.payment_intent_id) | Q(pk__in=paid_by),
            tenant=tenant,
        )
        .first()
    )
    if booking is None:
        return None
    now = timezone.now()
    closed = dispute.status in BookingDispute.CLOSED_STATUSES
    record, created = BookingDispute.objects.get_or_create(
        stripe_dispute_id=dispute.dispute_id,
        defaults={
            "tenant": tenant,
            "booking": booking,
            "stripe_charge_id": dispute.charge_id,
            "amount_cents": dispute.amount,
            "currency": dispute.currency.lower()[:3],
            "reason": dispute.reason[:40],
            "status": dispute.status[:30],
            "stripe_event_created": dispute.event_created,
            "closed_at": now if closed else None,
        },
    )
    if created:
        audit_record(
            tenant=tenant,
            action="booking.disputed",
            obj=booking,
            changes={
                "dispute": [None, dispute.dispute_id],
                "dispute_status": [None, record.status],
                "dispute_reason": [None, record.reason],
                "dispute_amount_cents": [None, record.amount_cents],
            },
        )
        logger.warning(
            "booking %s disputed: %s (%s)", booking.pk, dispute.dispute_id, record.status
        )
        return f"dispute recorded: {record.status}"
    stale = dispute.event_created < record.stripe_event_created
    if stale or not record.is_open or record.status == dispute.status:
        return f"dispute left {record.status}"
    before = record.status
    record.status = dispute.status[:30]
    record.amount_cents = dispute.amount
    record.stripe_event_created = dispute.event_created
    record.closed_at = now if closed else None
    record.save(
        update_fields=["status", "amount_cents", "stripe_event_created", "closed_at", "updated_at"]
    )
    audit_record(
        tenant=tenant,
        action="booking.dispute_updated",
        obj=booking,
        changes={
            "dispute": [dispute.dispute_id, dispute.dispute_id],
            "dispute_status": [before, record.status],
        },
    )
    return f"dispute {record.status}"


# --- cancellation and refunds -------------------------------------------------


@transaction.atomic
def booking_hold_release(*, tenant: Tenant, booking_id: uuid.UUID | str) -> Booking:
    """Staff end an unpaid hold early: the date is free at once and the
    Checkout Session is expired at Stripe (outbox). A payment that still lands
    (the couple paid a moment before the expiry reached Stripe) is refunded in
    full automatically (`hold_released`). Raises HoldNotReleasable when the
    booking was paid meanwhile (staff then cancel it, with a refund choice)."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    if booking.status != Booking.Status.HELD:
        if booking.status == Booking.Status.CONFIRMED:
            raise HoldNotReleasable()
        raise BookingNotCancelable()
    booking.status = Booking.Status.CANCELED
    booking.canceled_at = timezone.now()
    booking.cancel_reason = CancelReason.HOLD_RELEASED
    booking.save(update_fields=["status", "canceled_at", "cancel_reason", "updated_at"])
    audit_record(
        tenant=tenant,
        action="booking.hold_released",
        obj=booking,
        changes={
            "status": [Booking.Status.HELD, booking.status],
            "cancel_reason": ["", booking.cancel_reason],
        },
    )
    _queue_session_expiry(tenant=tenant, booking=booking)
    return booking


@transaction.atomic
def booking_cancel(
    *,
    tenant: Tenant,
    booking_id: uuid.UUID | str,
    refund_cents: int | None = None,
    seen_paid_cents: int | None = None,
    seen_refundable_cents: int | None = None,
    follow_policy: bool = False,
) -> Booking:
    """Staff cancel a confirmed booking, freeing its date, and refund
    `refund_cents` of the payment (None: all that is left; 0: nothing), or,
    with `follow_policy`, what the booking's cancellation policy gives
    today (all that is left when it has none). The audit entry records the
    policy's amount and whether the decision overrode it.

    Decided under the booking's row lock, from the booking as it is now:
    - one cancellation per booking, whatever the concurrency: the first to
      lock cancels, the others find it canceled (BookingNotCancelable), so at
      most one refund is ever decided by a cancel;
    - `seen_paid_cents` is what the deciding person saw: if a payment landed
      since, a partial or no-refund choice was made on wrong figures and is
      refused (BookingChangedMeanwhile); a full refund refunds what is
      there now; likewise if `seen_refundable_cents` (what was left to
      refund when the choice was made) changed, e.g. a dashboard refund
      landed: a partial refund would be added on top of it;
    - the refund is reserved here and sent to Stripe by the outbox after
      commit (bookings.refunds), exactly once.
    A held booking is not canceled but released (booking_hold_release)."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    if booking.status == Booking.Status.HELD:
        if seen_paid_cents:
            raise BookingChangedMeanwhile()
        return booking_hold_release(tenant=tenant, booking_id=booking.pk)
    if booking.status not in Booking.ACTIVE_STATUSES:
        raise BookingNotCancelable()
    if seen_paid_cents is not None and seen_paid_cents != booking.paid_cents:
        if refund_cents is not None:
            raise BookingChangedMeanwhile()
    refundable = refunds.refundable_now(booking)
    if (
        refund_cents is not None
        and not follow_policy
        and seen_refundable_cents is not None
        and seen_refundable_cents != refundable
    ):
        raise BookingChangedMeanwhile()
    policy_amount = agreements.policy_refund_now(booking=booking)
    if follow_policy and policy_amount is not None:
        if refund_cents is not None and refund_cents != policy_amount:
            # The policy gives another amount than staff confirmed (the day
            # turned, a refund landed): they review the new one.
            raise BookingChangedMeanwhile()
        amount = policy_amount
    elif refund_cents is None:
        # A non-refundable deposit stays: by default only what was paid
        # beyond it goes back (staff may still choose an amount).
        amount = money.staff_full_refund_cents(
            refundable_cents=refundable,
            deposit_cents=booking.deposit_cents,
            deposit_refundable=booking.payment_plan.get("deposit_refundable") is not False,
        )
    else:
        amount = refund_cents
    if amount < 0 or amount > refundable:
        raise RefundTooLarge()
    previous = booking.status
    _mark_canceled(booking, reason=CancelReason.STAFF)
    changes = {
        "status": [previous, booking.status],
        "cancel_reason": ["", booking.cancel_reason],
        "refund_decided_cents": [None, amount],
    }
    if policy_amount is not None:
        # The booking carries a policy: say what it gave and whether staff
        # decided otherwise.
        changes["refund_policy_cents"] = [None, policy_amount]
        changes["policy_overridden"] = [None, amount != policy_amount]
    audit_record(tenant=tenant, action="booking.canceled", obj=booking, changes=changes)
    if amount:
        _refund_queue(
            tenant=tenant,
            booking=booking,
            amount_cents=amount,
            reason=BookingRefund.Reason.STAFF_CANCEL,
        )
    _queue_mail("booking_mail_canceled", tenant=tenant, booking=booking)
    return booking


def _mark_canceled(booking: Booking, *, reason: str) -> None:
    """Precondition: `booking` locked and active. Frees the date; the
    calendar event's SEQUENCE moves on (the cancellation .ics); an open
    cancellation request is answered by this."""
    now = timezone.now()
    booking.status = Booking.Status.CANCELED
    booking.canceled_at = now
    booking.cancel_reason = reason
    booking.ics_sequence += 1
    booking.save(
        update_fields=["status", "canceled_at", "cancel_reason", "ics_sequence", "updated_at"]
    )
    CancellationRequest.objects.filter(
        tenant=booking.tenant_id, booking=booking, resolved_at__isnull=True
    ).update(resolved_at=now)


@transaction.atomic
def booking_cancel_by_couple(
    *,
    tenant: Tenant,
    booking_id: uuid.UUID | str,
    expected_refund_cents: int | None = None,
    now: dt.datetime | None = None,
) -> Booking:
    """The couple cancels from "manage my booking" (the tenant allows it):
    the date is freed and the booking's own policy decides the refund,
    computed here under the booking's lock from what it holds now.

    Exactly once under any concurrency: the first caller to lock cancels;
    others find it canceled (BookingNotCancelable), so one refund at most.
    `expected_refund_cents` is the amount the couple was shown: if the
    policy now gives another (the day turned, a refund landed meanwhile)
    nothing happens (BookingChangedMeanwhile) and they are shown the new
    amount. Raises PolicyForbidsChange when self-cancel is off or the
    refund would include money paid outside Stripe (staff return that)."""
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    if booking.status != Booking.Status.CONFIRMED:
        raise BookingNotCancelable()
    refusal = agreements.self_cancel_refusal(
        booking=booking, policy=agreements.policy_for(tenant=tenant), now=now
    )
    if refusal:
        raise PolicyForbidsChange(refusal)
    amount = agreements.policy_refund_now(booking=booking, now=now)
    if expected_refund_cents is not None and expected_refund_cents != amount:
        raise BookingChangedMeanwhile()
    previous = booking.status
    _mark_canceled(booking, reason=CancelReason.COUPLE)
    audit_record(
        tenant=tenant,
        action="booking.canceled",
        obj=booking,
        changes={
            "status": [previous, booking.status],
            "cancel_reason": ["", booking.cancel_reason],
            "refund_decided_cents": [None, amount],
            "refund_policy_cents": [None, amount],
            "policy_overridden": [None, False],
        },
    )
    if amount:
        _refund_queue(
            tenant=tenant,
            booking=booking,
            amount_cents=amount,
            reason=BookingRefund.Reason.COUPLE_CANCEL,
        )
    _queue_mail("booking_mail_canceled", tenant=tenant, booking=booking)
    return booking


# --- date changes -------------------------------------------------------------


def _price_on_new_date(booking: Booking) -> int:
    """The package and the booked add-ons at today's prices (the package's
    price may have changed since checkout, or differ by season); an add-on
    no longer sold keeps the price it was sold at."""
    lines = list(booking.add_on_lines.select_related("add_on"))
    add_ons = sum(
        line.add_on.price_cents
        if line.add_on is not None and line.add_on.active
        else line.price_cents
        for line in lines
    )
    return booking.package.price_cents + add_ons


def _fees_settled(booking: Booking) -> int:
    """The change fees `amount_cents` includes: of the changes netted into a
    refund (nothing left due) or paid (not of one still due or replaced)."""
    return sum(
        BookingDateChange.objects.filter(tenant=booking.tenant_id, booking=booking)
        .exclude(payment__in=[BookingDateChange.Payment.DUE, BookingDateChange.Payment.SUPERSEDED])
        .values_list("fee_cents", flat=True)
    )


def date_change_refusal(
    *, booking: Booking, policy, by: str, now: dt.datetime | None = None
) -> str | None:
    """Why this actor may not move the booking now (None: they may)."""
    if booking.status != Booking.Status.CONFIRMED:
        return "not_confirmed"
    if by != BookingDateChange.By.COUPLE:
        return None
    if not policy.date_change_allowed:
        return "changes_off"
    if agreements.days_before(booking=booking, now=now) < policy.date_change_min_days:
        return "too_late"
    if booking.couple_date_changes >= policy.date_change_max_count:
        return "too_many_changes"
    return None


@dataclass(frozen=True)
class DateChangeQuote:
    refusal: str | None
    fee_cents: int
    refund_cents: int
    due_cents: int


def date_change_quote(
    *, booking: Booking, by: str, now: dt.datetime | None = None
) -> DateChangeQuote:
    """What moving the booking would do now (a preview; the move decides
    again under the lock). Prices do not depend on the date itself, so the
    quote holds for any free date."""
    policy = agreements.policy_for(tenant=booking.tenant)
    fee = policy.date_change_fee_cents if by == BookingDateChange.By.COUPLE else 0
    fees_before = _fees_settled(booking)
    refund, due = money.date_change_settlement(
        amount_before_cents=booking.amount_cents - fees_before,
        amount_after_cents=_price_on_new_date(booking),
        fee_cents=fee,
        refundable_cents=refunds.refundable_now(booking),
        paid_for_price_cents=booking.paid_cents
        - refunds.returned_for_price_cents(booking)
        - fees_before,
    )
    return DateChangeQuote(
        refusal=date_change_refusal(booking=booking, policy=policy, by=by, now=now),
        fee_cents=fee,
        refund_cents=refund,
        due_cents=due,
    )


@transaction.atomic
def booking_date_change(
    *,
    tenant: Tenant,
    booking_id: uuid.UUID | str,
    new_date: dt.date,
    by: str,
    now: dt.datetime | None = None,
    expected_refund_cents: int | None = None,
) -> BookingDateChange:
    """Move a confirmed booking to another free date, in one transaction:
    the new date is taken and the old one freed by one UPDATE of the
    booking, so the partial unique constraint decides every race (two moves
    onto one date, a move against a new hold: exactly one wins; a move
    against a cancel: the booking's row lock orders them).

    Payments carry over. The package and add-ons are priced again as of
    now; with the couple's change fee (policy) the difference is netted
    (money.date_change_settlement): a decrease lowers what the booking costs
    and what was paid beyond that is refunded through the refund ledger
    (after commit, exactly once; a balance still due shrinks instead); an
    increase is recorded as due and charged through a pay link (a Checkout
    Session, created after commit). `amount_cents` is what the booking
    costs in all, change fees included. Both sides get the calendar update
    (same UID, SEQUENCE + 1).

    `by`: "staff" or "couple" (the couple is held to the policy: allowed,
    up to N days before, at most K times; PolicyForbidsChange). Raises
    DateUnavailable for a taken, blacked-out or out-of-window date, and
    BookingChangedMeanwhile when `expected_refund_cents` (what the person
    confirming was shown) is not the refund the move makes now."""
    now = now or timezone.now()
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    policy = agreements.policy_for(tenant=tenant)
    refusal = date_change_refusal(booking=booking, policy=policy, by=by, now=now)
    if refusal:
        raise PolicyForbidsChange(refusal)
    if new_date == booking.event_date:
        raise ValidationError(
            {"event_date": ValidationError("That is already the booking's date.", code="same_date")}
        )
    reason = window_refusal(tenant=tenant, day=new_date, today=tenant_today(tenant=tenant, now=now))
    if reason:
        raise DateUnavailable(reason)
    if BlackoutDate.objects.filter(tenant=tenant, date=new_date).exists():
        raise DateUnavailable("blackout")
    _expire_lapsed(Booking.objects.filter(tenant=tenant, event_date=new_date), now=now)

    from_date = booking.event_date
    # An earlier change whose difference is still unpaid is replaced by this
    # one (which prices from the same unpaid starting point): its pay link
    # is expired, so the couple never pays two differences for one move.
    for earlier in BookingDateChange.objects.select_for_update().filter(
        tenant=tenant, booking=booking, payment=BookingDateChange.Payment.DUE
    ):
        earlier.payment = BookingDateChange.Payment.SUPERSEDED
        earlier.save(update_fields=["payment"])
        if earlier.stripe_checkout_session_id:
            outbox.enqueue(
                "checkout_session_expire",
                tenant_id=tenant.pk,
                session_id=earlier.stripe_checkout_session_id,
            )
    # Prices compared with prices: the fees of earlier changes stay owed.
    fees_before = _fees_settled(booking)
    amount_before = booking.amount_cents - fees_before
    amount_after = _price_on_new_date(booking)
    fee = policy.date_change_fee_cents if by == BookingDateChange.By.COUPLE else 0
    refund, due = money.date_change_settlement(
        amount_before_cents=amount_before,
        amount_after_cents=amount_after,
        fee_cents=fee,
        refundable_cents=refunds.refundable_now(booking),
        paid_for_price_cents=booking.paid_cents
        - refunds.returned_for_price_cents(booking)
        - fees_before,
    )
    if expected_refund_cents is not None and refund != expected_refund_cents:
        raise BookingChangedMeanwhile()
    booking.event_date = new_date
    booking.ics_sequence += 1
    if by == BookingDateChange.By.COUPLE:
        booking.couple_date_changes += 1
    balance_due_before = booking.balance_due_on
    if booking.balance_due_on and booking.balance_state in (
        Booking.BalanceState.SCHEDULED,
        Booking.BalanceState.FAILED,
    ):
        # The balance is due the plan's N days before the wedding: the new
        # one. A due day already past is today (the next sweep charges it).
        days_before = int(booking.plan_in_force.get("balance_days_before") or 0)
        booking.balance_due_on = max(
            new_date - dt.timedelta(days=days_before), tenant_today(tenant=tenant, now=now)
        )
    # What the booking costs in all (the new price and the change fee)
    # follows at once when it is not higher (any refund is decided below; a
    # balance still to pay shrinks); a higher one counts when its
    # difference is paid (date_change_mark_paid).
    if not due:
        booking.amount_cents = amount_after + fees_before + fee
    try:
        with transaction.atomic():
            booking.save(
                update_fields=[
                    "event_date",
                    "ics_sequence",
                    "couple_date_changes",
                    "amount_cents",
                    "balance_due_on",
                    "updated_at",
                ]
            )
    except IntegrityError as exc:
        if violated_constraint(exc) != ACTIVE_DATE_CONSTRAINT:
            raise
        taken = (
            Booking.objects.filter(
                tenant=tenant, event_date=new_date, status__in=Booking.ACTIVE_STATUSES
            )
            .values_list("status", flat=True)
            .first()
        )
        raise DateUnavailable("booked" if taken == Booking.Status.CONFIRMED else "held") from exc
    change = BookingDateChange.objects.create(
        tenant=tenant,
        booking=booking,
        from_date=from_date,
        to_date=new_date,
        by=by,
        amount_before_cents=amount_before,
        amount_after_cents=amount_after,
        price_difference_cents=amount_after - amount_before,
        fee_cents=fee,
        refund_cents=refund,
        due_cents=due,
        payment=BookingDateChange.Payment.DUE if due else BookingDateChange.Payment.NONE,
    )
    audit_record(
        tenant=tenant,
        action="booking.date_changed",
        obj=booking,
        changes={
            "event_date": [from_date.isoformat(), new_date.isoformat()],
            "balance_due_on": [
                balance_due_before.isoformat() if balance_due_before else None,
                booking.balance_due_on.isoformat() if booking.balance_due_on else None,
            ],
            "changed_by": [None, by],
            "amount_cents": [amount_before, amount_after],
            "change_fee_cents": [None, fee],
            "refund_cents": [None, refund],
            "due_cents": [None, due],
        },
    )
    if refund:
        _refund_queue(
            tenant=tenant,
            booking=booking,
            amount_cents=refund,
            reason=BookingRefund.Reason.DATE_CHANGE,
        )
    if due:
        outbox.enqueue("date_change_pay_link", tenant_id=tenant.pk, change_id=change.pk)
    outbox.enqueue("booking_mail_date_changed", tenant_id=tenant.pk, change_id=change.pk)
    return change


# A pay link lives as long as Stripe lets a Checkout Session live (24 h),
# with a margin for the moments before the call reaches Stripe.
PAY_LINK_LIFETIME = dt.timedelta(hours=23)


def date_change_pay_link_open(*, tenant: Tenant, change_id: int) -> str:
    """Open the Checkout Session for what a date change left due. Runs from
    the outbox, outside any transaction (no row lock during the Stripe
    call); Stripe dedupes retries by the change's idempotency key. Raises
    PaymentProviderError (the task retries when it is retryable)."""
    change = (
        BookingDateChange.objects.select_related("booking", "booking__package")
        .filter(tenant=tenant, pk=change_id)
        .first()
    )
    if change is None or change.payment != BookingDateChange.Payment.DUE:
        return "nothing due"
    if change.stripe_checkout_session_id:
        return "pay link already open"
    booking = change.booking
    session = payments.date_change_session_create(
        tenant=tenant,
        booking=booking,
        change_id=change.pk,
        amount_cents=change.due_cents,
        title=f"Date change {change.from_date:%Y-%m-%d} → {change.to_date:%Y-%m-%d}",
        commission_cents=money.commission_for(
            amount_cents=change.due_cents, bps=booking.commission_bps
        ),
        expires_at=timezone.now() + PAY_LINK_LIFETIME,
        return_url=manage_url(booking.pk),
    )
    with transaction.atomic():
        opened = BookingDateChange.objects.filter(
            tenant=tenant,
            pk=change.pk,
            payment=BookingDateChange.Payment.DUE,
            stripe_checkout_session_id__isnull=True,
        ).update(stripe_checkout_session_id=session.id, checkout_url=session.url)
        if opened:
            outbox.enqueue("date_change_mail_pay_link", tenant_id=tenant.pk, change_id=change.pk)
        elif (
            BookingDateChange.objects.filter(pk=change.pk).values_list("payment", flat=True).first()
            == BookingDateChange.Payment.SUPERSEDED
        ):
            # Replaced by a later change while this link was being opened.
            BookingDateChange.objects.filter(pk=change.pk).update(
                stripe_checkout_session_id=session.id
            )
            outbox.enqueue("checkout_session_expire", tenant_id=tenant.pk, session_id=session.id)
            return "superseded; pay link expired"
    return f"pay link {session.id}"


@transaction.atomic
def date_change_mark_paid(
    *,
    tenant: Tenant,
    change_id: int,
    checkout_session_id: str,
    amount_paid_cents: int,
    currency: str,
    payment_intent_id: str = "",
) -> str:
    """Stripe says a date change's pay link was paid. Once: the payment joins
    the booking's ledger (a `change` payment carrying the commission on it
    as its application fee, which refunds reverse in proportion like the
    rest), and what the booking costs grows by it. A booking no longer
    confirmed, or a change a later one replaced, gets it back in full. A
    payment that is not the change's session, amount or currency changes
    nothing."""
    change = BookingDateChange.objects.filter(tenant=tenant, pk=change_id).first()
    if change is None:
        return "no such date change"
    booking = _locked_booking(tenant=tenant, booking_id=change.booking_id)
    change = BookingDateChange.objects.select_for_update(of=("self",)).get(pk=change.pk)
    superseded = change.payment == BookingDateChange.Payment.SUPERSEDED
    if change.payment != BookingDateChange.Payment.DUE and not (
        superseded and change.paid_at is None
    ):
        return "date change payment already recorded"
    if (
        checkout_session_id != change.stripe_checkout_session_id
        or amount_paid_cents != change.due_cents
        or currency.lower() != booking.currency
    ):
        logger.warning("date change %s: payment does not match; left due", change.pk)
        return "date change payment does not match; left due"
    if not superseded:
        change.payment = BookingDateChange.Payment.PAID
    change.paid_at = timezone.now()
    change.save(update_fields=["payment", "paid_at"])
    before = {
        "paid_cents": booking.paid_cents,
        "amount_cents": booking.amount_cents,
        "commission_cents": booking.commission_cents,
    }
    commission = money.commission_for(amount_cents=amount_paid_cents, bps=booking.commission_bps)
    payment = BookingPayment.objects.create(
        tenant=tenant,
        booking=booking,
        kind=BookingPayment.Kind.DATE_CHANGE,
        status=BookingPayment.Status.SUCCEEDED,
        amount_cents=amount_paid_cents,
        application_fee_cents=commission,
        stripe_payment_intent_id=payment_intent_id or None,
        stripe_checkout_session_id=checkout_session_id,
        succeeded_at=change.paid_at,
    )
    if not superseded:
        booking.amount_cents += amount_paid_cents
    booking.commission_cents += commission
    booking.save(update_fields=["amount_cents", "commission_cents", "updated_at"])
    refunds.ledger_refresh(booking)
    audit_record(
        tenant=tenant,
        action="booking.date_change_paid",
        obj=booking,
        changes=diff(
            before,
            {
                "paid_cents": booking.paid_cents,
                "amount_cents": booking.amount_cents,
                "commission_cents": booking.commission_cents,
            },
        ),
    )
    if superseded:
        # Paid on a link a later change had replaced (before Stripe expired
        # it): the booking costs what the later change says; all of it back.
        _refund_queue(
            tenant=tenant,
            booking=booking,
            amount_cents=payment.amount_cents,
            reason=BookingRefund.Reason.DATE_CHANGE,
        )
        return "date change replaced by a later one; refunding its payment"
    if booking.status != Booking.Status.CONFIRMED:
        # Canceled while the pay link was open: the money goes back.
        _refund_queue(
            tenant=tenant,
            booking=booking,
            amount_cents=payment.amount_cents,
            reason=BookingRefund.Reason.STAFF_CANCEL,
        )
        return "date change paid after the booking was canceled; refunding"
    return "date change paid"


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
    outbox.enqueue(
        "booking_mail_confirmed",
        tenant_id=tenant.pk,
        booking_id=str(booking.pk),
        notify_staff=False,
    )


BOOKING_CONTACT_FIELDS = ("couple_name", "email", "phone", "notes")


@transaction.atomic
def booking_contact_update(
    *, tenant: Tenant, booking_id: uuid.UUID | str, **changes: str
) -> Booking:
    """Staff correct the couple's contact details or notes (a typo in the
    e-mail, a new phone number). Only `BOOKING_CONTACT_FIELDS`; the status,
    date and money are never touched here. Validated as the model's fields
    are (ValidationError per field), audited as `booking.contact_updated`
    naming the fields changed (values redacted: couples' personal data).
    Raises BookingNotFound for another tenant's id."""
    unknown = set(changes) - set(BOOKING_CONTACT_FIELDS)
    if unknown:
        raise TypeError(f"not contact fields: {sorted(unknown)}")
    booking = _locked_booking(tenant=tenant, booking_id=booking_id)
    values = {name: value.strip() for name, value in changes.items()}
    before = snapshot(booking, values)
    for name, value in values.items():
        setattr(booking, name, value)
    booking.full_clean(exclude=[f.name for f in Booking._meta.fields if f.name not in values])
    changed = diff(before, snapshot(booking, values))
    if changed:
        booking.save(update_fields=[*changed, "updated_at"])
        # The audit keeps no couple's personal data (tenants.audit redacts the
        # values), so it names the fields that changed as well.
        audit_record(
            tenant=tenant,
            action="booking.contact_updated",
            obj=booking,
            changes={**changed, "contact_fields": [[], sorted(changed)]},
        )
    return booking
