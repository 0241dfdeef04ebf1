"""What each Stripe event type means for Altar: thin calls into the bookings
and tenants services, which guard every transition (so any order, and any
number of deliveries, is safe). Each handler runs inside the event's tenant
scope and the event's transaction.

A handler that must ask Stripe first (the account behind `account.updated`)
declares a `prefetch`: it runs before the event's transaction opens, so no
row lock or open transaction waits on the network, and its answer is handed
to `apply`."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.utils import timezone

from bookings import balances, payments, refunds
from bookings import services as bookings
from bookings.models import Booking
from tenants.models import Tenant
from tenants.scoping import scopes_disabled
from tenants.services import tenant_connect_account_deauthorize, tenant_connect_account_update


@dataclass(frozen=True)
class HandlerResult:
    applied: bool  # False: nothing of ours matched (recorded as ignored)
    outcome: str


@dataclass(frozen=True)
class Handler:
    apply: Callable[..., HandlerResult]  # (*, event, tenant, fetched) inside the transaction
    prefetch: Callable[[dict[str, Any]], Any] | None = None  # (event), outside any transaction


def _booking_for_session(session: dict[str, Any], tenant: Tenant) -> Booking | None:
    booking_id = (session.get("metadata") or {}).get("booking_id") or session.get(
        "client_reference_id"
    )
    if not booking_id:
        return None
    try:
        booking_uuid = uuid.UUID(str(booking_id))
    except ValueError:  # not a UUID (another shop's reference): not one of ours
        return None
    return Booking.objects.filter(tenant=tenant, pk=booking_uuid).first()


def _reported_payment(event: dict[str, Any]) -> bookings.ReportedPayment:
    session = event["data"]["object"]
    return bookings.ReportedPayment(
        event_id=event["id"],
        checkout_session_id=session["id"],
        payment_intent_id=session.get("payment_intent") or "",
        amount_total=session.get("amount_total"),
        currency=session.get("currency") or "",
        payment_status=session.get("payment_status") or "",
    )


def _paid(event: dict[str, Any], tenant: Tenant) -> HandlerResult:
    session = event["data"]["object"]
    altar_payment = (session.get("metadata") or {}).get("altar_payment") or ""
    if altar_payment.isdigit():
        # A balance pay link (bookings.balances), not the booking's checkout.
        outcome = balances.pay_link_paid(
            tenant=tenant,
            payment_id=int(altar_payment),
            session_id=session["id"],
            payment_intent_id=session.get("payment_intent") or "",
            amount=session.get("amount_total") or 0,
        )
        return HandlerResult(True, f"balance: {outcome}")
    change_id = (session.get("metadata") or {}).get("altar_date_change")
    if change_id:
        # The pay link of a date change: money for the change, not the
        # booking's checkout.
        if not str(change_id).isdigit():
            return HandlerResult(False, "not one of our date changes")
        outcome = bookings.date_change_mark_paid(
            tenant=tenant,
            change_id=int(change_id),
            checkout_session_id=session["id"],
            amount_paid_cents=session.get("amount_total") or 0,
            currency=session.get("currency") or "",
            payment_intent_id=session.get("payment_intent") or "",
        )
        return HandlerResult(True, f"date change: {outcome}")
    booking = _booking_for_session(session, tenant)
    if booking is None:
        return HandlerResult(False, "no booking of this tenant matches the session")
    outcome = bookings.booking_payment_received(
        tenant=tenant, booking_id=booking.pk, payment=_reported_payment(event)
    )
    return HandlerResult(True, f"payment: {outcome}")


def checkout_session_completed(*, event: dict[str, Any], tenant: Tenant, **_: Any) -> HandlerResult:
    payment_status = event["data"]["object"].get("payment_status")
    if payment_status == "paid":
        return _paid(event, tenant)
    if payment_status != "unpaid":  # "no_payment_required": Altar never sells free dates
        return HandlerResult(False, f"completed with payment_status {payment_status!r}")
    if (event["data"]["object"].get("metadata") or {}).get("altar_date_change"):
        # A date change paid by bank debit: recorded when it succeeds.
        return HandlerResult(True, "date change: payment processing")
    # A delayed method (bank debit): the date stays occupied while it settles.
    booking = _booking_for_session(event["data"]["object"], tenant)
    if booking is None:
        return HandlerResult(False, "no booking of this tenant matches the session")
    outcome = bookings.booking_payment_processing(
        tenant=tenant, booking_id=booking.pk, payment=_reported_payment(event)
    )
    return HandlerResult(True, f"payment: {outcome}")


def checkout_session_async_payment_succeeded(
    *, event: dict[str, Any], tenant: Tenant, **_: Any
) -> HandlerResult:
    return _paid(event, tenant)


def _released(event: dict[str, Any], tenant: Tenant, reason: str) -> HandlerResult:
    session = event["data"]["object"]
    booking = _booking_for_session(session, tenant)
    if booking is None:
        return HandlerResult(False, "no booking of this tenant matches the session")
    if session["id"] != booking.stripe_checkout_session_id:
        # Only the booking's own session can end its hold.
        return HandlerResult(False, "the session is not the booking's")
    outcome = bookings.booking_expire(tenant=tenant, booking_id=booking.pk, reason=reason)
    return HandlerResult(True, f"release: {outcome}")


def checkout_session_expired(*, event: dict[str, Any], tenant: Tenant, **_: Any) -> HandlerResult:
    if (event["data"]["object"].get("metadata") or {}).get("altar_payment"):
        # A pay link lapsed: the manage page makes a new one on the next visit.
        return HandlerResult(True, "balance pay link expired")
    return _released(event, tenant, "session_expired")


def payment_intent_outcome(*, event: dict[str, Any], tenant: Tenant, **_: Any) -> HandlerResult:
    """payment_intent.succeeded / payment_intent.payment_failed: only the
    off-session balance charges are recorded from these (metadata
    `altar_payment`); checkout payments are recorded from their sessions
    (https://docs.stripe.com/api/events/types#event_types-payment_intent.succeeded)."""
    outcome = balances.balance_record_from_event(
        tenant=tenant, payment_intent=event["data"]["object"]
    )
    if outcome is None:
        return HandlerResult(False, "not an off-session balance charge")
    return HandlerResult(True, f"balance: {outcome}")


def checkout_session_async_payment_failed(
    *, event: dict[str, Any], tenant: Tenant, **_: Any
) -> HandlerResult:
    return _released(event, tenant, bookings.PAYMENT_FAILED)


def charge_refunded(*, event: dict[str, Any], tenant: Tenant, **_: Any) -> HandlerResult:
    # Since API 2022-11-15 a Charge carries no `refunds` list and webhook
    # payloads cannot be expanded (https://docs.stripe.com/upgrades#2022-11-15):
    # the refunds themselves arrive as refund.created / refund.updated /
    # refund.failed, which record them. This event only says "some refund".
    return HandlerResult(True, "recorded through the refund.* events")


def refund_changed(*, event: dict[str, Any], tenant: Tenant, **_: Any) -> HandlerResult:
    """refund.created / refund.updated / refund.failed: the refund object as
    Stripe has it now; a pending one is not counted as refunded until it
    succeeds, a failed one is shown to staff
    (https://docs.stripe.com/api/events/types#event_types-refund.created)."""
    refund = event["data"]["object"]
    changed = refunds.refund_record_from_event(tenant=tenant, refund=refund)
    if changed is None:
        return HandlerResult(False, "no booking of this tenant matches the refund")
    outcome = "recorded" if changed else "no change"
    return HandlerResult(True, f"refund {refund.get('status')}: {outcome}")


def charge_dispute(*, event: dict[str, Any], tenant: Tenant, **_: Any) -> HandlerResult:
    """`charge.dispute.created/updated/closed`: the Dispute object carries
    its charge and PaymentIntent (ids, at this API version)."""
    dispute = event["data"]["object"]
    outcome = bookings.booking_dispute_record(
        tenant=tenant,
        dispute=bookings.ReportedDispute(
            dispute_id=dispute["id"],
            charge_id=dispute.get("charge") or "",
            payment_intent_id=dispute.get("payment_intent") or "",
            amount=dispute.get("amount") or 0,
            currency=dispute.get("currency") or "",
            reason=dispute.get("reason") or "",
            status=dispute.get("status") or "",
            event_created=event.get("created") or 0,
        ),
    )
    if outcome is None:
        return HandlerResult(False, "no booking of this tenant matches the disputed payment")
    return HandlerResult(True, outcome)


@dataclass(frozen=True)
class FetchedAccount:
    account: payments.ConnectAccount
    started_at: dt.datetime


def account_fetch(event: dict[str, Any]) -> FetchedAccount | None:
    """Re-read the account from Stripe (the payload may be stale, and events
    come in any order), only for an account a tenant of ours owns."""
    account_id = event["data"]["object"].get("id") or event.get("account") or ""
    with scopes_disabled():
        ours = Tenant.objects.filter(stripe_account_id=account_id).exists()
    if not account_id or not ours:
        return None
    started_at = timezone.now()
    return FetchedAccount(payments.connect_account_retrieve(account_id=account_id), started_at)


def account_updated(
    *, event: dict[str, Any], tenant: Tenant, fetched: FetchedAccount | None = None
) -> HandlerResult:
    if fetched is None:
        return HandlerResult(False, "no tenant owns this account")
    account = fetched.account
    changed = tenant_connect_account_update(
        tenant=tenant,
        account_id=account.id,
        charges_enabled=account.charges_enabled,
        transfers_active=account.transfers_active,
        checked_at=fetched.started_at,
    )
    state = "transfers active" if account.transfers_active else "transfers inactive"
    if not account.accessible:
        state = "account not accessible to the platform"
    return HandlerResult(True, f"account re-read: {state}; {'changed' if changed else 'no change'}")


def account_application_deauthorized(
    *, event: dict[str, Any], tenant: Tenant, **_: Any
) -> HandlerResult:
    """The event's `account` is the connected account; its object is our
    Application (https://docs.stripe.com/api/events/types#event_types-account.application.deauthorized)."""
    account_id = event.get("account") or ""
    if not account_id:
        return HandlerResult(False, "no connected account named")
    done = tenant_connect_account_deauthorize(tenant=tenant, account_id=account_id)
    return HandlerResult(True, "routing stopped" if done else "already deauthorized")


HANDLERS: dict[str, Handler] = {
    "checkout.session.completed": Handler(checkout_session_completed),
    "checkout.session.async_payment_succeeded": Handler(checkout_session_async_payment_succeeded),
    "checkout.session.async_payment_failed": Handler(checkout_session_async_payment_failed),
    "checkout.session.expired": Handler(checkout_session_expired),
    "payment_intent.succeeded": Handler(payment_intent_outcome),
    "payment_intent.payment_failed": Handler(payment_intent_outcome),
    "charge.refunded": Handler(charge_refunded),
    "refund.created": Handler(refund_changed),
    "refund.updated": Handler(refund_changed),
    "refund.failed": Handler(refund_changed),
    "charge.dispute.created": Handler(charge_dispute),
    "charge.dispute.updated": Handler(charge_dispute),
    "charge.dispute.closed": Handler(charge_dispute),
    "account.updated": Handler(account_updated, prefetch=account_fetch),
    "account.application.deauthorized": Handler(account_application_deauthorized),
}
