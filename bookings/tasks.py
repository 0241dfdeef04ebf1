"""Durable side effects of booking changes: the outbox's tasks.

Services enqueue these *inside* the transaction that makes the change
(django-tasks' database backend inserts a row in that transaction): a
rolled-back change leaves no task, a committed one cannot lose it. The
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
from django_tasks import task

from bookings import notifications, payments
from bookings.errors import PaymentProviderError
from bookings.models import Booking
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
def booking_refund(
    *,
    tenant_id: int,
    booking_id: str,
    amount_cents: int,
    idempotency_key: str,
    reason: str,
    attempt: int = 1,
) -> str:
    """Refund what the platform owes (the late-payment rule) and record it."""
    from bookings.services import booking_refund_record

    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant), actor_context("system", "task:booking_refund"):
        booking = Booking.objects.get(pk=booking_id)
        try:
            refund = payments.refund_create(
                booking=booking, amount_cents=amount_cents, idempotency_key=idempotency_key
            )
        except PaymentProviderError:
            if attempt >= MAX_ATTEMPTS:
                raise
            run_after = timezone.now() + retry_delay(attempt)
            with transaction.atomic():
                booking_refund.using(run_after=run_after).enqueue(
                    tenant_id=tenant_id,
                    booking_id=booking_id,
                    amount_cents=amount_cents,
                    idempotency_key=idempotency_key,
                    reason=reason,
                    attempt=attempt + 1,
                )
            logger.warning(
                "refund for booking %s failed; retry %d at %s", booking_id, attempt + 1, run_after
            )
            return f"retry {attempt + 1} scheduled"
        booking_refund_record(
            tenant=tenant,
            booking_id=booking.pk,
            stripe_refund_id=refund.id,
            amount_cents=refund.amount_cents,
            status=refund.status,
            reason=reason,
        )
    return f"refunded {refund.id}"
