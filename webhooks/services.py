"""Our processing of Stripe events: exactly once, order-independent, retryable.

Called by the webhook view (after dj-stripe verified the signature) and by
`replay_webhooks`. The guarantees come from the database:
- one StripeEvent row per event id (unique constraint); the row is locked
  while the event is processed, so concurrent deliveries of one event queue
  behind the first and then find it done;
- a failure rolls back everything the attempt did, and is then recorded on
  the row in a separate transaction (`stripe_event_record_failure`) with a
  PII-free description; the next delivery (or a replay) processes it again,
  because only `processed` and `ignored` count as done;
- the bookings services guard every state transition, so events arriving in
  any order, or replayed, never apply twice.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from bookings.models import Booking, BookingPayment
from config.errors import DomainError
from tenants.audit import actor_context
from tenants.models import Tenant
from tenants.scoping import scopes_disabled, tenant_scope
from webhooks import handlers
from webhooks.models import StripeEvent

logger = logging.getLogger("altar.webhooks")


@dataclass(frozen=True)
class ProcessResult:
    event: StripeEvent
    duplicate: bool  # already done before this delivery: nothing was applied


def _tenant_for(event: dict[str, Any]) -> Tenant | None:
    """The Connect account owns the event when there is one; else the
    `tenant` slug our checkout put in the object's metadata; else (objects
    Stripe creates without our metadata, e.g. a Dispute) the tenant of the
    booking paid by the object's PaymentIntent."""
    account = event.get("account")
    if account:
        return Tenant.objects.filter(stripe_account_id=account).first()
    obj = event.get("data", {}).get("object", {})
    slug = (obj.get("metadata") or {}).get("tenant")
    if slug:
        return Tenant.objects.filter(slug=slug).first()
    payment_intent = obj.get("payment_intent")
    if payment_intent and isinstance(payment_intent, str):
        booking = Booking.objects.filter(stripe_payment_intent_id=payment_intent).first()
        if booking is not None:
            return booking.tenant
        # A later payment of a booking (a balance, a date change).
        payment = BookingPayment.objects.filter(stripe_payment_intent_id=payment_intent).first()
        return payment.tenant if payment is not None else None
    return None


def _locked_record(event: dict[str, Any]) -> StripeEvent:
    """The event's row, created if new, locked for this transaction.

    A concurrent first delivery blocks on the unique index until the other
    commits (then we read its row) or rolls back (then our insert wins)."""
    try:
        with transaction.atomic():
            StripeEvent.objects.create(
                event_id=event["id"],
                type=event.get("type", ""),
                connect_account_id=event.get("account") or "",
                status=StripeEvent.Status.FAILED,  # until this attempt commits
                payload=event,
            )
    except IntegrityError:
        pass
    return StripeEvent.objects.select_for_update().get(event_id=event["id"])


def stripe_event_process(*, event: dict[str, Any], known_not_done: bool = False) -> ProcessResult:
    """Apply one verified Stripe event. Raises on failure (caller records it).

    A handler's Stripe read (its `prefetch`) runs first, outside any
    transaction, unless the event is already done; then the event is
    applied in one transaction. Call outside atomic for that guarantee
    (the webhook view and `replay_webhooks` do). `known_not_done`: the
    caller has just read that the event is not done (the webhook view), so
    the prefetch runs without asking again; the transaction still decides.)"""
    handler = handlers.HANDLERS.get(event.get("type", ""))
    fetched = None
    if handler is not None and handler.prefetch is not None:
        with scopes_disabled():
            done = not known_not_done and (
                StripeEvent.objects.filter(
                    event_id=event["id"], status__in=StripeEvent.DONE_STATUSES
                ).exists()
            )
        if not done:
            fetched = handler.prefetch(event)
    return _stripe_event_apply(event=event, handler=handler, fetched=fetched)


@transaction.atomic
def _stripe_event_apply(
    *, event: dict[str, Any], handler: handlers.Handler | None, fetched: Any
) -> ProcessResult:
    with scopes_disabled():  # the tenant is not known until the event is read
        record = _locked_record(event)
        if record.status in StripeEvent.DONE_STATUSES:
            return ProcessResult(event=record, duplicate=True)
        tenant = _tenant_for(event)
    record.attempts += 1
    record.tenant = tenant
    if tenant is None:
        status, outcome = StripeEvent.Status.IGNORED, "no tenant matches this event"
    else:
        if handler is None:
            status, outcome = StripeEvent.Status.IGNORED, "event type not handled"
        else:
            # What the event changes is recorded as the event's doing.
            with tenant_scope(tenant), actor_context("stripe", f"stripe:{event['id']}"):
                result = handler.apply(event=event, tenant=tenant, fetched=fetched)
            status = StripeEvent.Status.PROCESSED if result.applied else StripeEvent.Status.IGNORED
            outcome = result.outcome
    record.status = status
    record.outcome = outcome[:200]
    record.processed_at = timezone.now()
    record.last_error_type = record.last_error_message = ""
    with scopes_disabled():
        record.save()
    return ProcessResult(event=record, duplicate=False)


def error_summary(exc: BaseException) -> tuple[str, str]:
    """(type, message) safe to store and log: never the exception's text,
    which can quote row values (a couple's name or e-mail)."""
    error_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
    if isinstance(exc, DomainError):
        message = f"refused: {exc.code}"
    elif isinstance(exc, DatabaseError):
        sqlstate = getattr(getattr(exc, "__cause__", None), "sqlstate", None)
        message = f"database error (SQLSTATE {sqlstate or 'unknown'})"
    else:
        message = "unexpected error; see the server log for the stack trace"
    return error_type, message


def stripe_event_record_failure(*, event: dict[str, Any], exc: BaseException) -> StripeEvent:
    """Record a failed attempt. Runs after the attempt's rollback, in its own
    transaction; never downgrades an event another delivery completed."""
    error_type, message = error_summary(exc)
    frames = "".join(traceback.format_tb(exc.__traceback__))
    logger.error(
        "Stripe event %s (%s) failed: %s\n%s",
        event.get("id"),
        event.get("type"),
        error_type,
        frames,
    )
    with transaction.atomic(), scopes_disabled():
        record = _locked_record(event)
        if record.status in StripeEvent.DONE_STATUSES:
            return record
        StripeEvent.objects.filter(pk=record.pk).update(
            status=StripeEvent.Status.FAILED,
            attempts=F("attempts") + 1,
            last_error_type=error_type[:200],
            last_error_message=message[:500],
            tenant=_tenant_for(event),
            updated_at=timezone.now(),
        )
        record.refresh_from_db()
        return record
