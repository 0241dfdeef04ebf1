"""What each Stripe event type means for Altar: thin calls into the bookings
and tenants services, which guard every transition (so any order, and any
number of deliveries, is safe). Each handler runs inside the event's tenant
scope and the event's transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bookings import refunds
from bookings import services as bookings
from bookings.models import Booking
from tenants.models import Tenant
from tenants.services import tenant_connect_account_update


@dataclass(frozen=True)
class HandlerResult:
    applied: bool  # False: nothing of ours matched (recorded as ignored)
    outcome: str


def _booking_for_session(session: dict[str, Any], tenant: Tenant) -> Booking | None:
    booking_id = (session.get("metadata") or {}).get("booking_id") or session.get(
        "client_reference_id"
    )
    if not booking_id:
        return None
    try:
        return Booking.objects.filter(tenant=tenant, pk=booking_id).first()
    except ValueError:  # not a UUID: not one of ours
        return None


def _paid(event: dict[str, Any], tenant: Tenant) -> HandlerResult:
    session = event["data"]["object"]
    booking = _booking_for_session(session, tenant)
    if booking is None:
        return HandlerResult(False, "no booking of this tenant matches the session")
    outcome = bookings.booking_mark_paid(
        tenant=tenant,
        booking_id=booking.pk,
        checkout_session_id=session["id"],
        payment_intent_id=session.get("payment_intent") or "",
        amount_paid_cents=session.get("amount_total") or 0,
    )
    return HandlerResult(True, f"payment: {outcome}")


def checkout_session_completed(*, event: dict[str, Any], tenant: Tenant) -> HandlerResult:
    if event["data"]["object"].get("payment_status") != "paid":
        # Delayed payment methods: the async_payment_* events decide.
        return HandlerResult(True, "completed unpaid; awaiting the asynchronous payment")
    return _paid(event, tenant)


def checkout_session_async_payment_succeeded(
    *, event: dict[str, Any], tenant: Tenant
) -> HandlerResult:
    return _paid(event, tenant)


def _released(event: dict[str, Any], tenant: Tenant, reason: str) -> HandlerResult:
    session = event["data"]["object"]
    booking = _booking_for_session(session, tenant)
    if booking is None:
        return HandlerResult(False, "no booking of this tenant matches the session")
    outcome = bookings.booking_expire(tenant=tenant, booking_id=booking.pk, reason=reason)
    return HandlerResult(True, f"release: {outcome}")


def checkout_session_expired(*, event: dict[str, Any], tenant: Tenant) -> HandlerResult:
    return _released(event, tenant, "session_expired")


def checkout_session_async_payment_failed(
    *, event: dict[str, Any], tenant: Tenant
) -> HandlerResult:
    return _released(event, tenant, "payment_failed")


def charge_refunded(*, event: dict[str, Any], tenant: Tenant) -> HandlerResult:
    # Since API 2022-11-15 a Charge carries no `refunds` list and webhook
    # payloads cannot be expanded (https://docs.stripe.com/upgrades#2022-11-15):
    # the refunds themselves arrive as refund.created / refund.updated /
    # refund.failed, which record them. This event only says "some refund".
    return HandlerResult(True, "recorded through the refund.* events")


def refund_changed(*, event: dict[str, Any], tenant: Tenant) -> HandlerResult:
    """refund.created / refund.updated / refund.failed: the refund object as
    Stripe has it now; a pending one is not counted as refunded until it
    succeeds, a failed one is shown to staff."""
    refund = event["data"]["object"]
    changed = refunds.refund_record_from_event(tenant=tenant, refund=refund)
    if changed is None:
        return HandlerResult(False, "no booking of this tenant matches the refund")
    return HandlerResult(
        True, f"refund {refund.get('status')}: {'recorded' if changed else 'no change'}"
    )


def account_updated(*, event: dict[str, Any], tenant: Tenant) -> HandlerResult:
    account = event["data"]["object"]
    changed = tenant_connect_account_update(
        tenant=tenant,
        account_id=account["id"],
        charges_enabled=bool(account.get("charges_enabled")),
    )
    return HandlerResult(True, "charges enabled updated" if changed else "no change")


HANDLERS: dict[str, Callable[..., HandlerResult]] = {
    "checkout.session.completed": checkout_session_completed,
    "checkout.session.async_payment_succeeded": checkout_session_async_payment_succeeded,
    "checkout.session.async_payment_failed": checkout_session_async_payment_failed,
    "checkout.session.expired": checkout_session_expired,
    "charge.refunded": charge_refunded,
    "refund.created": refund_changed,
    "refund.updated": refund_changed,
    "refund.failed": refund_changed,
    "account.updated": account_updated,
}
