"""Altar's outbound calls to Stripe (API.md §2), through the official library.

Every call: `STRIPE_API_BASE` and `STRIPE_SECRET_KEY` from settings, a
timeout, no automatic network retries (the caller decides; each call carries
a deterministic idempotency key, so a retry can never charge or refund
twice), and any Stripe failure surfaces as PaymentProviderError. Callers must
not hold row locks or an open transaction around these calls.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import stripe
from django.conf import settings

from bookings.errors import PaymentProviderError
from bookings.models import Booking
from tenants.models import Tenant

logger = logging.getLogger("altar.payments")


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    payment_intent_id: str | None


@dataclass(frozen=True)
class Refund:
    id: str
    amount_cents: int
    status: str


def stripe_client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
    )


def _status_url(template: str, booking: Booking, default_suffix: str) -> str:
    if template:
        return template.replace("{BOOKING_ID}", str(booking.pk))
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/bookings/{booking.pk}/{default_suffix}"


def checkout_session_create(*, tenant: Tenant, booking: Booking) -> CheckoutSession:
    """A Checkout Session for a held booking: one line for the package and one
    per add-on, expiring with the hold. With a Connect account that can take
    charges: a destination charge with the commission as application fee."""
    add_on_lines = [(line.title, line.price_cents) for line in booking.add_on_lines.all()]
    package_price = booking.amount_cents - sum(price for _title, price in add_on_lines)
    lines = [(booking.package.title, package_price), *add_on_lines]
    metadata = {"booking_id": str(booking.pk), "tenant": tenant.slug}
    params: dict = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": booking.currency,
                    "unit_amount": amount,
                    "product_data": {"name": title},
                },
                "quantity": 1,
            }
            for title, amount in lines
        ],
        "customer_email": booking.email,
        "client_reference_id": str(booking.pk),
        "metadata": metadata,
        "expires_at": int(booking.hold_expires_at.timestamp()),
        "success_url": _status_url(tenant.success_url_template, booking, "?checkout=success"),
        "cancel_url": _status_url(tenant.cancel_url_template, booking, "?checkout=canceled"),
        "payment_intent_data": {"metadata": metadata},
    }
    if booking.stripe_account_id:
        params["payment_intent_data"]["application_fee_amount"] = booking.commission_cents
        params["payment_intent_data"]["transfer_data"] = {"destination": booking.stripe_account_id}
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params, {"idempotency_key": f"altar-checkout-{booking.pk}"}
        )
    except stripe.StripeError as exc:
        _log_failure("checkout.sessions.create", booking, exc)
        raise PaymentProviderError() from exc
    return CheckoutSession(id=session.id, url=session.url, payment_intent_id=session.payment_intent)


def refund_create(*, booking: Booking, amount_cents: int, idempotency_key: str) -> Refund:
    """Refunds part or all of the booking's payment. For a destination charge
    the transfer and the application fee are reversed in proportion, so the
    tenant and the platform each give back their share."""
    params: dict = {"payment_intent": booking.stripe_payment_intent_id, "amount": amount_cents}
    if booking.stripe_account_id:
        params["reverse_transfer"] = True
        params["refund_application_fee"] = True
    try:
        refund = stripe_client().v1.refunds.create(params, {"idempotency_key": idempotency_key})
    except stripe.StripeError as exc:
        _log_failure("refunds.create", booking, exc)
        raise PaymentProviderError() from exc
    return Refund(id=refund.id, amount_cents=refund.amount, status=refund.status)


def _log_failure(call: str, booking: Booking, exc: stripe.StripeError) -> None:
    # Booking id and Stripe's error type only: no couple's name or e-mail.
    logger.warning(
        "stripe %s failed for booking %s: %s (http %s, code %s)",
        call,
        booking.pk,
        type(exc).__name__,
        exc.http_status,
        exc.code,
    )


@dataclass(frozen=True)
class ConnectAccount:
    id: str
    charges_enabled: bool
    transfers_active: bool
    accessible: bool  # False: Stripe no longer lets the platform read it


def connect_account_retrieve(*, account_id: str) -> ConnectAccount:
    """The connected account as Stripe has it now (GET /v1/accounts/{id}).
    Webhook payloads can be stale and arrive in any order; this read is the
    truth. Destination charges need `capabilities.transfers == "active"`
    (https://docs.stripe.com/connect/destination-charges). An account the
    platform may no longer read (403, e.g. access revoked; 404) comes back
    not accessible; any other failure raises PaymentProviderError so the
    event is retried. Call outside any transaction."""
    try:
        account = stripe_client().v1.accounts.retrieve(account_id)
    except (stripe.PermissionError, stripe.InvalidRequestError) as exc:
        if exc.http_status not in (403, 404):
            raise PaymentProviderError() from exc
        logger.warning(
            "stripe accounts.retrieve %s: not accessible (http %s, code %s)",
            account_id,
            exc.http_status,
            exc.code,
        )
        return ConnectAccount(account_id, False, False, accessible=False)
    except stripe.StripeError as exc:
        logger.warning(
            "stripe accounts.retrieve %s failed: %s (http %s)",
            account_id,
            type(exc).__name__,
            exc.http_status,
        )
        raise PaymentProviderError() from exc
    capabilities = account.get("capabilities") or {}
    return ConnectAccount(
        id=account.id,
        charges_enabled=bool(account.get("charges_enabled")),
        transfers_active=capabilities.get("transfers") == "active",
        accessible=True,
    )
