"""Balances (issue 13): after a deposit, the rest of the price is charged
off-session to the card saved at checkout on the due date (the tenant's
today), from the outbox; a decline or a bank's request for authentication
sends the couple to a pay link (a Checkout Session for the balance, from
"manage my booking") with reminders; staff may record an offline payment or
send the link early. Money rules are bookings.money; the ledger is
bookings.models.BookingPayment; refunds are bookings.refunds.

Exactly once, under any concurrency:
- `balances_claim` (the `charge_balances` sweep, cron-able, any number of
  copies at once) locks due bookings with SKIP LOCKED and moves each from
  `scheduled` to `charging` in the transaction that creates its balance
  payment row and queues `balance_charge` (the outbox): a second sweep, or
  a re-run, finds nothing left to claim; the partial unique constraint
  `bookings_bookingpayment_one_balance_charge_uniq` backs it up.
- `balance_charge_send` sends the PaymentIntent under the payment's
  idempotency key; after a 5xx or a timeout it looks the PaymentIntent up
  by its `altar_payment` metadata before it tries the next key (as refunds
  do); `balance_record` keys on the payment row, so the answer and the
  payment_intent.* webhooks count a charge once, in any order.
- reminders: one BookingReminder row per booking and kind (unique), inserted
  in the transaction that queues its e-mail.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from bookings import money, outbox, payments, refunds
from bookings.errors import BookingChangedMeanwhile, PaymentProviderError
from bookings.models import Booking, BookingPayment, BookingRefund, BookingReminder
from bookings.selectors import tenant_today
from tenants.audit import audit_record
from tenants.models import Tenant

logger = logging.getLogger("altar.balances")

State = Booking.BalanceState
PStatus = BookingPayment.Status

# A pay link's Checkout Session lives at most 24 h at Stripe; a new one is
# made when the couple comes back later.
PAY_LINK_LIFETIME = dt.timedelta(hours=23)


class ChargeRetryLater(Exception):
    """Stripe's answer was unclear (5xx, timeout): the outbox runs the task
    again later, and that run looks the PaymentIntent up first."""


def balance_due_cents(booking: Booking) -> int:
    return money.balance_due_cents(
        amount_cents=booking.amount_cents,
        paid_cents=booking.paid_cents,
        active=booking.status == Booking.Status.CONFIRMED,
    )


def _balance_fee(booking: Booking, amount_cents: int) -> int:
    """The balance's share of the commission: what the payments made so far
    (the deposit, offline payments, date changes) left of it
    (money.commission_left_cents); Stripe takes it as the application fee
    on a destination charge."""
    assigned = BookingPayment.objects.filter(
        tenant=booking.tenant_id, booking=booking, status=PStatus.SUCCEEDED
    ).values_list("application_fee_cents", flat=True)
    return money.commission_left_cents(
        commission_cents=booking.commission_cents,
        assigned_cents=sum(assigned),
        amount_cents=amount_cents,
    )


# --- the saved card ---------------------------------------------------------


def card_save(*, tenant: Tenant, booking_id: uuid.UUID | str) -> str:
    """Read the card the deposit saved (from the deposit's PaymentIntent) and
    keep its id and last four digits on the booking. From the outbox."""
    booking = Booking.objects.filter(tenant=tenant, pk=booking_id).first()
    if booking is None or not booking.stripe_payment_intent_id:
        return "no deposit payment"
    if booking.stripe_payment_method_id:
        return "already saved"
    card = payments.saved_card(payment_intent_id=booking.stripe_payment_intent_id)
    Booking.objects.filter(tenant=tenant, pk=booking.pk).update(
        stripe_customer_id=card.customer_id or booking.stripe_customer_id,
        stripe_payment_method_id=card.payment_method_id,
        card_last4=card.last4,
        updated_at=timezone.now(),
    )
    return f"card ending {card.last4} saved"


# --- claiming due balances (the sweep) ----------------------------------------


def balances_claim(*, now: dt.datetime | None = None, batch: int = 500) -> int:
    """Claim every balance due by now (each tenant's today), across tenants
    (the caller disables scopes), and queue its charge. Returns how many
    this call claimed. Safe with any number of concurrent callers."""
    now = now or timezone.now()
    claimed = 0
    # The widest "today" of any time zone: rows due later are not looked at.
    horizon = (now + dt.timedelta(days=1)).date()
    while True:
        with transaction.atomic():
            due = list(
                Booking.objects.filter(
                    status=Booking.Status.CONFIRMED,
                    balance_state=State.SCHEDULED,
                    balance_due_on__lte=horizon,
                )
                .select_related("tenant")
                .select_for_update(of=("self",), skip_locked=True)
                .order_by("balance_due_on", "pk")[:batch]
            )
            ready = [b for b in due if b.balance_due_on <= tenant_today(tenant=b.tenant, now=now)]
            for booking in ready:
                _claim(booking)
            claimed += len(ready)
        if len(due) < batch or not ready:
            return claimed


def _claim(booking: Booking) -> None:
    """Precondition: `booking` locked and scheduled."""
    tenant = booking.tenant
    amount = balance_due_cents(booking)
    booking.balance_state = State.CHARGING if amount else State.PAID
    booking.save(update_fields=["balance_state", "updated_at"])
    if not amount:
        return
    payment = BookingPayment.objects.create(
        tenant=tenant,
        booking=booking,
        kind=BookingPayment.Kind.BALANCE,
        status=PStatus.REQUESTED,
        amount_cents=amount,
        application_fee_cents=_balance_fee(booking, amount),
    )
    audit_record(
        tenant=tenant,
        action="booking.balance_charge_requested",
        obj=booking,
        changes={"balance_payment": [None, payment.pk], "balance_cents": [None, amount]},
    )
    outbox.enqueue("balance_charge", tenant_id=tenant.pk, payment_id=payment.pk)


# --- charging off-session -------------------------------------------------------


def balance_charge_send(*, tenant: Tenant, payment_id: int) -> str:
    """Charge a claimed balance to the saved card. From the outbox, outside
    any transaction. Raises ChargeRetryLater when Stripe's answer is unclear."""
    payment = (
        BookingPayment.objects.select_related("booking")
        .filter(tenant=tenant, pk=payment_id)
        .first()
    )
    if payment is None or payment.status != PStatus.REQUESTED:
        return "already charged"
    booking = payment.booking
    if booking.status != Booking.Status.CONFIRMED:
        _payment_close(tenant=tenant, payment_id=payment.pk, status=PStatus.CANCELED)
        return f"booking {booking.status}: not charged"
    if not booking.stripe_payment_method_id:
        try:
            card_save(tenant=tenant, booking_id=booking.pk)
        except PaymentProviderError as exc:
            raise ChargeRetryLater() from exc
        booking.refresh_from_db()
    if payment.unclear_since is not None:
        try:
            found = payments.balance_charge_find(
                customer_id=booking.stripe_customer_id, altar_payment_id=payment.pk
            )
        except PaymentProviderError as exc:
            raise ChargeRetryLater() from exc
        if found is not None:
            balance_record(tenant=tenant, payment_id=payment.pk, charge=found)
            return f"found {found.payment_intent_id} after an unclear answer"
        BookingPayment.objects.filter(pk=payment.pk, attempt=payment.attempt).update(
            attempt=F("attempt") + 1, unclear_since=None, updated_at=timezone.now()
        )
        payment.refresh_from_db()
    try:
        charge = payments.balance_charge_create(
            booking=booking,
            amount_cents=payment.amount_cents,
            application_fee_cents=payment.application_fee_cents,
            idempotency_key=payment.idempotency_key,
            altar_payment_id=payment.pk,
        )
    except PaymentProviderError as exc:
        if exc.retryable:
            BookingPayment.objects.filter(pk=payment.pk, unclear_since__isnull=True).update(
                unclear_since=timezone.now(), updated_at=timezone.now()
            )
            raise ChargeRetryLater() from exc
        charge = payments.BalanceCharge(
            payment_intent_id="", succeeded=False, failure=exc.stripe_code or "refused"
        )
    balance_record(tenant=tenant, payment_id=payment.pk, charge=charge)
    return f"balance {'charged' if charge.succeeded else 'failed: ' + charge.failure}"


@transaction.atomic
def balance_record(*, tenant: Tenant, payment_id: int, charge: payments.BalanceCharge) -> str:
    """What Stripe says about an off-session balance charge (our answer, or
    a payment_intent.* event). Once per payment: a settled row is final."""
    payment = BookingPayment.objects.get(tenant=tenant, pk=payment_id)
    booking = refunds.locked_booking(tenant=tenant, booking_id=payment.booking_id)
    payment.refresh_from_db()
    if payment.status != PStatus.REQUESTED:
        return f"balance payment already {payment.status}"
    if charge.payment_intent_id:
        payment.stripe_payment_intent_id = charge.payment_intent_id
    if charge.succeeded:
        return _payment_succeeded(tenant=tenant, booking=booking, payment=payment)
    payment.status = PStatus.FAILED
    payment.failure = charge.failure[:100]
    payment.save(update_fields=["status", "failure", "stripe_payment_intent_id", "updated_at"])
    booking.balance_state = State.FAILED
    booking.save(update_fields=["balance_state", "updated_at"])
    audit_record(
        tenant=tenant,
        action="booking.balance_charge_failed",
        obj=booking,
        changes={"balance_payment": [payment.pk, payment.pk], "failure": [None, payment.failure]},
    )
    reminder_queue(booking=booking, kind="balance_failed")
    return f"balance charge failed: {payment.failure}"


def _payment_succeeded(*, tenant: Tenant, booking: Booking, payment: BookingPayment) -> str:
    """Precondition: `booking` locked. The payment counts; if the booking can
    no longer have it (canceled meanwhile, or paid twice through two
    links), it goes back in full."""
    payment.status = PStatus.SUCCEEDED
    payment.succeeded_at = timezone.now()
    payment.save()
    before_paid = booking.paid_cents
    refunds.ledger_refresh(booking)
    audit_record(
        tenant=tenant,
        action="booking.balance_paid",
        obj=booking,
        changes={
            "balance_payment": [None, payment.pk],
            "paid_cents": [before_paid, booking.paid_cents],
        },
    )
    surplus = booking.paid_cents - booking.amount_cents
    if booking.status != Booking.Status.CONFIRMED or surplus > 0:
        for refund in refunds.refund_reserve(
            tenant=tenant,
            booking=booking,
            amount_cents=payment.amount_cents
            if booking.status != Booking.Status.CONFIRMED
            else min(surplus, payment.amount_cents),
            reason=BookingRefund.Reason.STAFF_CANCEL,
        ):
            outbox.enqueue("refund_send", tenant_id=tenant.pk, refund_id=refund.pk)
        return "paid after the booking no longer needed it; refunding"
    if booking.paid_cents >= booking.amount_cents:
        _fully_paid(tenant=tenant, booking=booking)
    return "balance paid"


def _fully_paid(*, tenant: Tenant, booking: Booking) -> None:
    """Precondition: `booking` locked and paid in full. Pay links still
    open can no longer be used (expired at Stripe from the outbox)."""
    booking.balance_state = State.PAID
    booking.save(update_fields=["balance_state", "updated_at"])
    for link in BookingPayment.objects.filter(tenant=tenant, booking=booking, status=PStatus.OPEN):
        link.status = PStatus.CANCELED
        link.save(update_fields=["status", "updated_at"])
        if link.stripe_checkout_session_id:
            outbox.enqueue(
                "checkout_session_expire",
                tenant_id=tenant.pk,
                session_id=link.stripe_checkout_session_id,
            )


@transaction.atomic
def _payment_close(*, tenant: Tenant, payment_id: int, status: str) -> None:
    BookingPayment.objects.filter(tenant=tenant, pk=payment_id, status=PStatus.REQUESTED).update(
        status=status, updated_at=timezone.now()
    )


def balance_record_from_event(*, tenant: Tenant, payment_intent: dict) -> str | None:
    """payment_intent.succeeded / payment_intent.payment_failed for an
    off-session balance charge (metadata `altar_payment`); None otherwise
    (deposits are recorded from their Checkout Session events)."""
    altar_id = (payment_intent.get("metadata") or {}).get("altar_payment") or ""
    if not altar_id.isdigit():
        return None
    payment = BookingPayment.objects.filter(
        tenant=tenant, pk=int(altar_id), kind=BookingPayment.Kind.BALANCE
    ).first()
    if payment is None or payment.stripe_checkout_session_id:
        return None  # a pay link's payment: its Checkout Session event records it
    error = payment_intent.get("last_payment_error") or {}
    return balance_record(
        tenant=tenant,
        payment_id=payment.pk,
        charge=payments.BalanceCharge(
            payment_intent_id=payment_intent["id"],
            succeeded=payment_intent.get("status") == "succeeded",
            failure=error.get("code") or "failed",
        ),
    )


# --- the pay link ---------------------------------------------------------------


def pay_link_open(*, tenant: Tenant, booking_id: uuid.UUID | str) -> str:
    """The Checkout Session URL where the couple pays the balance (from the
    manage page): an open one still valid, else a new one. Stripe is called
    between two short transactions, no lock held. Raises ValidationError
    (code `nothing_due`) when nothing is due."""
    now = timezone.now()
    with transaction.atomic():
        booking = refunds.locked_booking(tenant=tenant, booking_id=booking_id)
        amount = balance_due_cents(booking)
        if not amount or booking.balance_state == State.CHARGING:
            raise ValidationError("Nothing is due on this booking now.", code="nothing_due")
        open_link = (
            BookingPayment.objects.filter(
                tenant=tenant,
                booking=booking,
                status=PStatus.OPEN,
                amount_cents=amount,
                created_at__gt=now - PAY_LINK_LIFETIME,
            )
            .exclude(checkout_url="")
            .first()
        )
        if open_link is not None:
            return open_link.checkout_url
        payment = BookingPayment.objects.create(
            tenant=tenant,
            booking=booking,
            kind=BookingPayment.Kind.BALANCE,
            status=PStatus.OPEN,
            amount_cents=amount,
            application_fee_cents=_balance_fee(booking, amount),
        )
    session = payments.balance_session_create(
        tenant=tenant,
        booking=booking,
        amount_cents=amount,
        application_fee_cents=payment.application_fee_cents,
        altar_payment_id=payment.pk,
        expires_at=now + PAY_LINK_LIFETIME,
    )
    BookingPayment.objects.filter(pk=payment.pk).update(
        stripe_checkout_session_id=session.id, checkout_url=session.url, updated_at=timezone.now()
    )
    return session.url


@transaction.atomic
def pay_link_paid(
    *, tenant: Tenant, payment_id: int, session_id: str, payment_intent_id: str, amount: int
) -> str:
    """checkout.session.completed (paid) for a pay link's session."""
    payment = BookingPayment.objects.filter(tenant=tenant, pk=payment_id).first()
    if payment is None or payment.stripe_checkout_session_id not in ("", session_id):
        return "not this booking's pay link"
    booking = refunds.locked_booking(tenant=tenant, booking_id=payment.booking_id)
    payment.refresh_from_db()
    if payment.status == PStatus.SUCCEEDED:
        return "balance payment already recorded"
    payment.stripe_checkout_session_id = session_id
    payment.stripe_payment_intent_id = payment_intent_id or None
    payment.amount_cents = amount
    return _payment_succeeded(tenant=tenant, booking=booking, payment=payment)


# --- staff -------------------------------------------------------------------------


@transaction.atomic
def offline_payment_record(
    *, tenant: Tenant, booking_id: uuid.UUID | str, amount_cents: int, note: str = ""
) -> BookingPayment:
    """Staff received money outside Stripe (bank transfer, cash). At most the
    balance due; refused while an off-session charge is in flight
    (BookingChangedMeanwhile). Audited."""
    booking = refunds.locked_booking(tenant=tenant, booking_id=booking_id)
    due = balance_due_cents(booking)
    if booking.balance_state == State.CHARGING:
        raise BookingChangedMeanwhile()
    if amount_cents <= 0 or amount_cents > due:
        raise ValidationError(
            {"amount_cents": ValidationError("More than is due.", code="more_than_due")}
        )
    assigned = sum(
        BookingPayment.objects.filter(
            tenant=tenant, booking=booking, status=PStatus.SUCCEEDED
        ).values_list("application_fee_cents", flat=True)
    )
    payment = BookingPayment.objects.create(
        tenant=tenant,
        booking=booking,
        kind=BookingPayment.Kind.OFFLINE,
        status=PStatus.SUCCEEDED,
        amount_cents=amount_cents,
        # Commission is owed on it too (never taken by Stripe); the payment
        # that completes the price takes what is left, so the shares add up.
        application_fee_cents=money.offline_commission_cents(
            commission_cents=booking.commission_cents,
            assigned_cents=assigned,
            amount_cents=amount_cents,
            total_cents=booking.amount_cents,
            completes=amount_cents == due,
        ),
        note=note[:200],
        succeeded_at=timezone.now(),
    )
    before = booking.paid_cents
    refunds.ledger_refresh(booking)
    if booking.paid_cents >= booking.amount_cents:
        _fully_paid(tenant=tenant, booking=booking)
    audit_record(
        tenant=tenant,
        action="booking.offline_payment",
        obj=booking,
        changes={
            "offline_payment": [None, payment.pk],
            "paid_cents": [before, booking.paid_cents],
            "note": [None, payment.note],
        },
    )
    return payment


@transaction.atomic
def balance_link_send(*, tenant: Tenant, booking_id: uuid.UUID | str) -> None:
    """Staff send the couple the balance pay link now (before the due date,
    or again). Audited; the e-mail goes through the outbox."""
    booking = refunds.locked_booking(tenant=tenant, booking_id=booking_id)
    if not balance_due_cents(booking) or booking.balance_state == State.CHARGING:
        raise ValidationError("Nothing is due on this booking now.", code="nothing_due")
    sent = BookingReminder.objects.filter(booking=booking, kind__startswith="balance_link").count()
    reminder_queue(booking=booking, kind=f"balance_link_{sent + 1}")
    audit_record(
        tenant=tenant,
        action="booking.balance_link_sent",
        obj=booking,
        changes={"balance_link": [None, sent + 1]},
    )


# --- reminders -------------------------------------------------------------------


def reminder_queue(*, booking: Booking, kind: str) -> bool:
    """Queue one reminder e-mail of `kind` for the booking, once ever. Call
    inside atomic. Returns whether it was queued now."""
    try:
        with transaction.atomic():
            reminder = BookingReminder.objects.create(
                tenant=booking.tenant, booking=booking, kind=kind
            )
    except IntegrityError:
        return False
    outbox.enqueue("booking_mail_reminder", tenant_id=booking.tenant_id, reminder_id=reminder.pk)
    return True


def reminders_queue(*, now: dt.datetime | None = None) -> int:
    """Queue the reminders due by now, across tenants (the caller disables
    scopes): before the balance is charged, while it is overdue (at
    settings.BALANCE_OVERDUE_REMINDER_DAYS after the due date), and
    settings.WEDDING_REMINDER_DAYS before the wedding while a balance is due."""
    now = now or timezone.now()
    notice = dt.timedelta(days=settings.BALANCE_NOTICE_DAYS)
    queued = 0
    with transaction.atomic():
        open_balances = Booking.objects.filter(
            status=Booking.Status.CONFIRMED,
            balance_state__in=[State.SCHEDULED, State.FAILED],
        ).select_related("tenant")
        for booking in open_balances:
            today = tenant_today(tenant=booking.tenant, now=now)
            kinds = []
            due_on = booking.balance_due_on
            if booking.balance_state == State.SCHEDULED and due_on - notice <= today < due_on:
                kinds.append("balance_upcoming")
            if booking.balance_state == State.FAILED:
                kinds += [
                    f"balance_overdue_{days}"
                    for days in settings.BALANCE_OVERDUE_REMINDER_DAYS
                    if today >= due_on + dt.timedelta(days=days)
                ]
            wedding_days = settings.WEDDING_REMINDER_DAYS
            if today >= booking.event_date - dt.timedelta(days=wedding_days):
                kinds.append(f"wedding_{wedding_days}_days")
            queued += sum(reminder_queue(booking=booking, kind=kind) for kind in kinds)
    return queued
