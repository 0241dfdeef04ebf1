"""Durable side effects of booking changes: the outbox's tasks.

Services enqueue these by name (bookings.outbox) *inside* the transaction
that makes the change (django-tasks' database backend inserts a row in that
transaction): a rolled-back change leaves no task, a committed one cannot
lose it. The
worker (`manage.py db_worker`) runs them after commit, outside any
transaction and without row locks. Every task is safe to run again:
e-mails check their "already sent" mark, refunds carry a Stripe
idempotency key fixed by the booking. A task that fails on Stripe schedules
its own retry with exponential back-off; after MAX_ATTEMPTS it fails for
good and stays visible to ops (admin: *Task results*).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from django.db import transaction
from django.utils import timezone

from bookings import balances, notifications, payments, refunds, services
from bookings.errors import PaymentProviderError
from bookings.models import Booking, BookingReminder
from bookings.outbox import task
from tenants.audit import actor_context
from tenants.models import Tenant
from tenants.scoping import tenant_scope

logger = logging.getLogger("altar.tasks")

MAX_ATTEMPTS = 8
FIRST_RETRY_AFTER = dt.timedelta(seconds=30)


def retry_delay(attempt: int) -> dt.timedelta:
    """30 s, 1 min, 2 min, … doubling, capped at 1 hour."""
    return min(FIRST_RETRY_AFTER * 2 ** (attempt - 1), dt.timedelta(hours=1))


@task()
def booking_mail_confirmed(*, tenant_id: int, booking_id: str, notify_staff: bool = True) -> str:
    def send(**ids) -> None:
        notifications.send_booking_confirmed(**ids, notify_staff=notify_staff)

    return _mail(tenant_id, booking_id, "confirmation_mailed_at", send)


@task()
def booking_mail_canceled(*, tenant_id: int, booking_id: str) -> str:
    return _mail(
        tenant_id, booking_id, "cancellation_mailed_at", notifications.send_booking_canceled
    )


def _mail(tenant_id: int, booking_id: str, mark: str, send) -> str:
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        if Booking.objects.filter(pk=booking_id, **{f"{mark}__isnull": False}).exists():
            return "already sent"
        send(tenant_id=tenant_id, booking_id=uuid.UUID(booking_id))
        # Marked after sending: a crash in between can mail twice, never zero times.
        Booking.objects.filter(pk=booking_id).update(**{mark: timezone.now()})
    return "sent"


@task()
def refund_send(*, tenant_id: int, refund_id: int, attempt: int = 1) -> str:
    """Send a refund Altar decided (bookings.refunds) to Stripe and record it."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant), actor_context("system", "task:refund_send"):
        try:
            return refunds.refund_send(tenant=tenant, refund_id=refund_id)
        except refunds.RefundRetryLater:
            return _retry(refund_send, attempt, tenant_id=tenant_id, refund_id=refund_id)


@task()
def booking_card_save(*, tenant_id: int, booking_id: str, attempt: int = 1) -> str:
    """Keep the card the deposit saved (its id, last four digits) on the booking."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant), actor_context("system", "task:booking_card_save"):
        try:
            return balances.card_save(tenant=tenant, booking_id=booking_id)
        except PaymentProviderError as exc:
            if not exc.retryable:
                raise
            return _retry(booking_card_save, attempt, tenant_id=tenant_id, booking_id=booking_id)


@task()
def balance_charge(*, tenant_id: int, payment_id: int, attempt: int = 1) -> str:
    """Charge a claimed balance off-session (bookings.balances)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant), actor_context("system", "task:balance_charge"):
        try:
            return balances.balance_charge_send(tenant=tenant, payment_id=payment_id)
        except balances.ChargeRetryLater:
            return _retry(balance_charge, attempt, tenant_id=tenant_id, payment_id=payment_id)


@task()
def booking_mail_reminder(*, tenant_id: int, reminder_id: int) -> str:
    """One reminder e-mail (bookings.balances.reminder_queue made it once)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        reminder = BookingReminder.objects.filter(pk=reminder_id).first()
        if reminder is None or reminder.sent_at is not None:
            return "already sent"
        notifications.send_balance_reminder(
            tenant_id=tenant_id, booking_id=reminder.booking_id, kind=reminder.kind
        )
        # Marked after sending: a crash in between can mail twice, never zero times.
        BookingReminder.objects.filter(pk=reminder_id).update(sent_at=timezone.now())
    return "sent"


@task()
def booking_mail_date_changed(*, tenant_id: int, change_id: int) -> str:
    """Both sides: the new date, with the calendar update (same UID,
    SEQUENCE + 1). Sent once per change (the change row is the mark)."""
    return notifications.send_date_changed(tenant_id=tenant_id, change_id=change_id)


@task()
def date_change_mail_pay_link(*, tenant_id: int, change_id: int) -> str:
    return notifications.send_date_change_pay_link(tenant_id=tenant_id, change_id=change_id)


@task()
def date_change_pay_link(*, tenant_id: int, change_id: int, attempt: int = 1) -> str:
    """Open the Checkout Session for what a date change left due."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant), actor_context("system", "task:date_change_pay_link"):
        try:
            return services.date_change_pay_link_open(tenant=tenant, change_id=change_id)
        except PaymentProviderError as exc:
            if not exc.retryable:
                raise
            return _retry(date_change_pay_link, attempt, tenant_id=tenant_id, change_id=change_id)


@task()
def payment_refunds_sync(*, tenant_id: int, booking_id: str, attempt: int = 1) -> str:
    """Refunds Stripe made before the payment reached Altar (bookings.refunds)."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant), actor_context("system", "task:payment_refunds_sync"):
        try:
            return refunds.refunds_sync(tenant=tenant, booking_id=booking_id)
        except PaymentProviderError as exc:
            if not exc.retryable:
                # Stripe refused the listing (e.g. it knows no such payment):
                # nothing to record; the refund.* events stay the main path.
                return f"refunds not listed ({exc.stripe_code})"
            return _retry(payment_refunds_sync, attempt, tenant_id=tenant_id, booking_id=booking_id)


@task()
def checkout_session_expire(*, tenant_id: int, session_id: str, attempt: int = 1) -> str:
    """Make the Checkout Session of a hold that ended early unpayable."""
    try:
        status = payments.checkout_session_expire(session_id=session_id)
    except PaymentProviderError as exc:
        if not exc.retryable:
            raise
        return _retry(checkout_session_expire, attempt, tenant_id=tenant_id, session_id=session_id)
    return f"session {status}"


def _retry(task_function, attempt: int, **kwargs) -> str:
    """Queue the task again with back-off; after MAX_ATTEMPTS fail for good
    (visible to ops in the admin's task results)."""
    if attempt >= MAX_ATTEMPTS:
        raise RuntimeError(f"gave up after {attempt} attempts")
    run_after = timezone.now() + retry_delay(attempt)
    with transaction.atomic():
        task_function.using(run_after=run_after).enqueue(**kwargs, attempt=attempt + 1)
    logger.warning("%s: retry %d at %s", task_function.name, attempt + 1, run_after)
    return f"retry {attempt + 1} scheduled"
