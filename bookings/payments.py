"""Altar's outbound calls to Stripe (API.md §2), through the official library.

Every call: `STRIPE_API_BASE` and `STRIPE_SECRET_KEY` from settings, a
timeout, no automatic network retries (the caller decides), and any Stripe
failure surfaces as PaymentProviderError, whose `retryable` says whether
Stripe may not have decided (5xx, timeout, connection lost): Stripe stores the
first answer to an idempotency key, a 5xx included, and replays it for 24 h
(https://docs.stripe.com/api/idempotent_requests), so a caller that got a
retryable error must find out whether the object exists before it tries again
under a NEW key. Callers must not hold row locks or an open transaction
around these calls.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass

import stripe
from django.conf import settings

from bookings import money
from bookings.errors import PaymentProviderError
from bookings.models import Booking
from tenants.models import Tenant

logger = logging.getLogger("altar.payments")

# Stripe accepts a Checkout Session `expires_at` from 30 minutes to 24 hours
# after the session's creation (https://docs.stripe.com/api/checkout/sessions/create
# #create_checkout_session-expires_at). "Creation" is when Stripe receives the
# request, later than our clock read, and the two clocks differ: keep a margin
# on both sides so latency or skew never takes a session outside the window.
CHECKOUT_MIN_EXPIRY = dt.timedelta(minutes=30)
CHECKOUT_MAX_EXPIRY = dt.timedelta(hours=24)
CHECKOUT_EXPIRY_MARGIN = dt.timedelta(minutes=3)


@dataclass(frozen=True)
class CheckoutSession:
    id: str
    url: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class Refund:
    id: str
    amount_cents: int
    status: str
    failure_reason: str
    payment_intent_id: str = ""
    # Our BookingRefund id from its metadata (`altar_refund`); None when the
    # refund was made outside Altar.
    altar_refund_id: int | None = None


_client_lock = threading.Lock()
_client: tuple[tuple, stripe.StripeClient] | None = None


def stripe_client() -> stripe.StripeClient:
    """One client per process and configuration: the library's HTTP client
    keeps its connection (and TLS session) alive between calls."""
    global _client
    config = (settings.STRIPE_SECRET_KEY, settings.STRIPE_API_BASE, settings.STRIPE_TIMEOUT_SECONDS)
    current = _client
    if current is not None and current[0] == config:
        return current[1]
    with _client_lock:
        client = stripe.StripeClient(
            settings.STRIPE_SECRET_KEY,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=0,
            http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT_SECONDS),
        )
        _client = (config, client)
        return client


def session_expires_at(*, now: dt.datetime, hold: dt.timedelta) -> dt.datetime:
    """The `expires_at` to send: the tenant's hold, kept inside Stripe's
    window with the margin (a 30-minute hold becomes 33 minutes)."""
    low = CHECKOUT_MIN_EXPIRY + CHECKOUT_EXPIRY_MARGIN
    high = CHECKOUT_MAX_EXPIRY - CHECKOUT_EXPIRY_MARGIN
    return now + min(max(hold, low), high)


def _status_url(template: str, booking: Booking, default_suffix: str) -> str:
    if template:
        return template.replace("{BOOKING_ID}", str(booking.pk))
    base = settings.PUBLIC_BASE_URL.rstrip("/")
    return f"{base}/bookings/{booking.pk}/{default_suffix}"


def customer_create(*, booking: Booking) -> str:
    """A Customer on the platform account for a booking that pays a deposit:
    the card saved at checkout is attached to it, and a destination charge
    may use a platform Customer's saved card off-session
    (https://docs.stripe.com/connect/destination-charges,
    https://docs.stripe.com/payments/save-during-payment). One per booking
    (the idempotency key)."""
    try:
        customer = stripe_client().v1.customers.create(
            {"email": booking.email, "metadata": {"booking_id": str(booking.pk)}},
            {"idempotency_key": f"altar-customer-{booking.pk}"},
        )
    except stripe.StripeError as exc:
        raise _provider_error("customers.create", booking.pk, exc) from exc
    return customer.id


def checkout_session_create(
    *,
    tenant: Tenant,
    booking: Booking,
    package_line_cents: int,
    expires_at: dt.datetime,
    customer_id: str = "",
) -> CheckoutSession:
    """A Checkout Session for a held booking: one line for the package and one
    per add-on; for a deposit plan one line for the deposit, charged to
    `customer_id` with the card saved for the balance
    (`setup_future_usage=off_session`). With a Connect account that can
    receive transfers: a destination charge with the checkout payment's
    share of the commission as application fee (money.payment_fees)."""
    if booking.balance_due_on:
        lines = [(f"Deposit · {booking.package.title}", booking.deposit_cents)]
    else:
        lines = [
            (booking.package.title, package_line_cents),
            *((line.title, line.price_cents) for line in booking.add_on_lines.all()),
        ]
    metadata = {"booking_id": str(booking.pk), "tenant": tenant.slug}
    params: dict = {
        "mode": "payment",
        "line_items": _line_items(booking.currency, lines),
        "client_reference_id": str(booking.pk),
        "metadata": metadata,
        "expires_at": int(expires_at.timestamp()),
        "success_url": _status_url(tenant.success_url_template, booking, "?checkout=success"),
        "cancel_url": _status_url(tenant.cancel_url_template, booking, "?checkout=canceled"),
        "payment_intent_data": {"metadata": metadata},
    }
    if customer_id:
        params["customer"] = customer_id
        params["payment_intent_data"]["setup_future_usage"] = "off_session"
    else:
        params["customer_email"] = booking.email
    deposit_fee, _ = money.payment_fees(
        commission_cents=booking.commission_cents,
        amount_cents=booking.amount_cents,
        deposit_cents=booking.due_at_checkout_cents,
    )
    return _session_open(
        params,
        booking=booking,
        application_fee_cents=deposit_fee,
        idempotency_key=f"altar-checkout-{booking.pk}",
    )


def _session_open(
    params: dict, *, booking: Booking, application_fee_cents: int, idempotency_key: str
) -> CheckoutSession:
    """Create a Checkout Session from `params`: a destination charge with
    its application fee when the booking's money goes to a Connect account
    (https://docs.stripe.com/connect/destination-charges)."""
    if booking.stripe_account_id:
        params["payment_intent_data"]["application_fee_amount"] = application_fee_cents
        params["payment_intent_data"]["transfer_data"] = {"destination": booking.stripe_account_id}
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params, {"idempotency_key": idempotency_key}
        )
    except stripe.StripeError as exc:
        raise _provider_error("checkout.sessions.create", booking.pk, exc) from exc
    return CheckoutSession(
        id=session.id,
        url=session.url,
        expires_at=dt.datetime.fromtimestamp(session.expires_at, tz=dt.UTC),
    )


def _line_items(currency: str, lines: list[tuple[str, int]]) -> list[dict]:
    return [
        {
            "price_data": {
                "currency": currency,
                "unit_amount": amount,
                "product_data": {"name": title},
            },
            "quantity": 1,
        }
        for title, amount in lines
    ]


def date_change_session_create(
    *,
    tenant: Tenant,
    booking: Booking,
    change_id: int,
    amount_cents: int,
    title: str,
    commission_cents: int,
    expires_at: dt.datetime,
    return_url: str,
) -> CheckoutSession:
    """The pay link for what a date change left due (a higher price, the
    change fee): one line, the booking's metadata plus `altar_date_change`
    so the webhook records it on the change, not as the booking's payment."""
    metadata = {
        "booking_id": str(booking.pk),
        "tenant": tenant.slug,
        "altar_date_change": str(change_id),
    }
    params: dict = {
        "mode": "payment",
        "line_items": _line_items(booking.currency, [(title, amount_cents)]),
        "customer_email": booking.email,
        "client_reference_id": str(booking.pk),
        "metadata": metadata,
        "expires_at": int(expires_at.timestamp()),
        "success_url": return_url,
        "cancel_url": return_url,
        "payment_intent_data": {"metadata": metadata},
    }
    return _session_open(
        params,
        booking=booking,
        application_fee_cents=commission_cents,
        idempotency_key=f"altar-date-change-{change_id}",
    )


def checkout_session_expire(*, session_id: str) -> str:
    """Make an open Checkout Session unpayable (Stripe's Cancel link only
    redirects; the session stays payable until it expires:
    https://docs.stripe.com/api/checkout/sessions/expire). Returns the
    session's status afterwards: `expired`, or `complete` when the couple paid
    first (the payment's webhook then decides)."""
    client = stripe_client()
    try:
        session = client.v1.checkout.sessions.expire(session_id)
    except stripe.InvalidRequestError as exc:
        # Only an open session can be expired: find out what it is instead.
        try:
            session = client.v1.checkout.sessions.retrieve(session_id)
        except stripe.StripeError as lookup_exc:
            raise _provider_error("checkout.sessions.retrieve", None, lookup_exc) from exc
        if session.status == "open":  # refused for another reason
            raise _provider_error("checkout.sessions.expire", None, exc) from exc
    except stripe.StripeError as exc:
        raise _provider_error("checkout.sessions.expire", None, exc) from exc
    return session.status


def refund_create(
    *,
    booking: Booking,
    payment_intent_id: str,
    amount_cents: int,
    idempotency_key: str,
    altar_refund_id: int,
) -> Refund:
    """Refunds part or all of one of the booking's payments. For a destination charge
    the transfer and the application fee are reversed in proportion, so the
    tenant and the platform each give back their share. The metadata tag lets
    `refund_find` recognise this refund after an unclear failure."""
    params: dict = {
        "payment_intent": payment_intent_id,
        "amount": amount_cents,
        "metadata": {"altar_refund": str(altar_refund_id), "booking_id": str(booking.pk)},
    }
    if booking.stripe_account_id:
        params["reverse_transfer"] = True
        params["refund_application_fee"] = True
    try:
        refund = stripe_client().v1.refunds.create(params, {"idempotency_key": idempotency_key})
    except stripe.StripeError as exc:
        raise _provider_error("refunds.create", booking.pk, exc) from exc
    return _refund(refund)


def refunds_list(*, payment_intent_id: str) -> list[Refund]:
    """Every refund of a payment, as Stripe has them (all pages)."""
    client = stripe_client()
    params: dict = {"payment_intent": payment_intent_id, "limit": 100}
    found: list[Refund] = []
    while True:
        try:
            page = client.v1.refunds.list(params)
        except stripe.StripeError as exc:
            raise _provider_error("refunds.list", None, exc) from exc
        found += [_refund(refund) for refund in page.data]
        if not page.has_more or not page.data:
            return found
        params["starting_after"] = page.data[-1].id


def refund_find(*, payment_intent_id: str, altar_refund_id: int) -> Refund | None:
    """The refund Altar asked for as `altar_refund_id`, if Stripe made it."""
    return next(
        (
            refund
            for refund in refunds_list(payment_intent_id=payment_intent_id)
            if refund.altar_refund_id == altar_refund_id
        ),
        None,
    )


def _refund(refund: stripe.Refund) -> Refund:
    return Refund(
        id=refund.id,
        amount_cents=refund.amount,
        status=refund.status or "pending",
        failure_reason=getattr(refund, "failure_reason", None) or "",
        payment_intent_id=refund.get("payment_intent") or "",
        altar_refund_id=_altar_refund_id(refund.get("metadata") or {}),
    )


def _altar_refund_id(metadata) -> int | None:
    value = metadata.get("altar_refund") or ""
    return int(value) if value.isdigit() else None


def _provider_error(call: str, booking_id, exc: stripe.StripeError) -> PaymentProviderError:
    status = exc.http_status
    retryable = (
        isinstance(exc, stripe.APIConnectionError)
        or status is None
        or status >= 500
        or status in (409, 429)
    )
    # Booking id and Stripe's error type only: no couple's name or e-mail.
    logger.warning(
        "stripe %s failed for booking %s: %s (http %s, code %s)",
        call,
        booking_id,
        type(exc).__name__,
        status,
        exc.code,
    )
    return PaymentProviderError(
        retryable=retryable,
        stripe_code=exc.code,
        stored_under_key=status is not None and status >= 500,
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
            raise _provider_error("accounts.retrieve", None, exc) from exc
        logger.warning(
            "stripe accounts.retrieve %s: not accessible (http %s, code %s)",
            account_id,
            exc.http_status,
            exc.code,
        )
        return ConnectAccount(account_id, False, False, accessible=False)
    except stripe.StripeError as exc:
        raise _provider_error("accounts.retrieve", None, exc) from exc
    capabilities = account.get("capabilities") or {}
    return ConnectAccount(
        id=account.id,
        charges_enabled=bool(account.get("charges_enabled")),
        transfers_active=capabilities.get("transfers") == "active",
        accessible=True,
    )


# --- balances: the saved card, off-session charges, pay links -------------------


@dataclass(frozen=True)
class SavedCard:
    customer_id: str
    payment_method_id: str
    last4: str


@dataclass(frozen=True)
class BalanceCharge:
    payment_intent_id: str
    succeeded: bool
    failure: str = ""  # Stripe's code: card_declined, authentication_required, ...


def saved_card(*, payment_intent_id: str) -> SavedCard:
    """The card the deposit's PaymentIntent saved (setup_future_usage), with
    its Customer (https://docs.stripe.com/api/payment_intents/retrieve,
    expanding payment_method)."""
    try:
        intent = stripe_client().v1.payment_intents.retrieve(
            payment_intent_id, {"expand": ["payment_method"]}
        )
    except stripe.StripeError as exc:
        raise _provider_error("payment_intents.retrieve", None, exc) from exc
    method = intent.payment_method
    card = getattr(method, "card", None) if method is not None else None
    return SavedCard(
        customer_id=(intent.customer if isinstance(intent.customer, str) else "") or "",
        payment_method_id=getattr(method, "id", None) or (method or ""),
        last4=getattr(card, "last4", "") or "",
    )


def balance_charge_create(
    *,
    booking: Booking,
    amount_cents: int,
    application_fee_cents: int,
    idempotency_key: str,
    altar_payment_id: int,
) -> BalanceCharge:
    """Charge the balance to the saved card without the couple
    (`off_session=true, confirm=true`:
    https://docs.stripe.com/payments/save-during-payment#charge-saved-payment-method),
    as a destination charge with the balance's own application fee when the
    tenant's Connect account takes transfers. A decline or a bank asking for
    authentication is an answer (402 card_error carrying the PaymentIntent),
    not an error: it comes back as a failed BalanceCharge."""
    metadata = {"booking_id": str(booking.pk), "altar_payment": str(altar_payment_id)}
    params: dict = {
        "amount": amount_cents,
        "currency": booking.currency,
        "customer": booking.stripe_customer_id,
        "payment_method": booking.stripe_payment_method_id,
        "off_session": True,
        "confirm": True,
        "metadata": metadata,
    }
    if booking.stripe_account_id:
        params["application_fee_amount"] = application_fee_cents
        params["transfer_data"] = {"destination": booking.stripe_account_id}
    try:
        intent = stripe_client().v1.payment_intents.create(
            params, {"idempotency_key": idempotency_key}
        )
    except stripe.CardError as exc:
        error = exc.error
        intent_id = ""
        if error is not None and error.payment_intent is not None:
            intent_id = error.payment_intent.id
        logger.warning(
            "stripe off-session balance for booking %s declined: %s", booking.pk, exc.code
        )
        return BalanceCharge(payment_intent_id=intent_id, succeeded=False, failure=exc.code or "")
    except stripe.StripeError as exc:
        raise _provider_error("payment_intents.create", booking.pk, exc) from exc
    return BalanceCharge(
        payment_intent_id=intent.id,
        succeeded=intent.status == "succeeded",
        failure="" if intent.status == "succeeded" else intent.status,
    )


def balance_charge_find(*, customer_id: str, altar_payment_id: int) -> BalanceCharge | None:
    """The off-session PaymentIntent Altar made for `altar_payment_id`, if
    Stripe made it (listed by Customer, every page)."""
    client = stripe_client()
    params: dict = {"customer": customer_id, "limit": 100}
    while True:
        try:
            page = client.v1.payment_intents.list(params)
        except stripe.StripeError as exc:
            raise _provider_error("payment_intents.list", None, exc) from exc
        for intent in page.data:
            if (intent.metadata or {}).get("altar_payment") == str(altar_payment_id):
                error = intent.last_payment_error
                return BalanceCharge(
                    payment_intent_id=intent.id,
                    succeeded=intent.status == "succeeded",
                    failure="" if intent.status == "succeeded" else (error and error.code) or "",
                )
        if not page.has_more or not page.data:
            return None
        params["starting_after"] = page.data[-1].id


def balance_session_create(
    *,
    tenant: Tenant,
    booking: Booking,
    amount_cents: int,
    application_fee_cents: int,
    altar_payment_id: int,
    expires_at: dt.datetime,
) -> CheckoutSession:
    """The pay link: a Checkout Session (mode payment) for the balance, for
    the booking's Customer, a destination charge with the balance's fee."""
    metadata = {
        "booking_id": str(booking.pk),
        "tenant": tenant.slug,
        "altar_payment": str(altar_payment_id),
    }
    params: dict = {
        "mode": "payment",
        "line_items": _line_items(
            booking.currency, [(f"Balance · {booking.package.title}", amount_cents)]
        ),
        "client_reference_id": str(booking.pk),
        "metadata": metadata,
        "expires_at": int(expires_at.timestamp()),
        "success_url": _status_url("", booking, "?checkout=success"),
        "cancel_url": _status_url("", booking, "?checkout=canceled"),
        "payment_intent_data": {"metadata": metadata},
    }
    if booking.stripe_customer_id:
        params["customer"] = booking.stripe_customer_id
    else:
        params["customer_email"] = booking.email
    return _session_open(
        params,
        booking=booking,
        application_fee_cents=application_fee_cents,
        idempotency_key=f"altar-balance-link-{altar_payment_id}",
    )


# What `stripe_list` pages through: Stripe's list endpoints Altar reconciles.
LISTABLE = ("charges", "refunds", "disputes", "application_fees")


def stripe_list(kind: str, *, created_gte: int | None = None) -> list[stripe.StripeObject]:
    """Every object of one kind on the platform account created at or after
    `created_gte` (Unix time), newest first: Stripe's list endpoint, 100 a
    page, paged with `starting_after`
    (https://docs.stripe.com/api/pagination). Raises PaymentProviderError."""
    client = stripe_client()
    service = getattr(client.v1, kind)
    params: dict = {"limit": 100}
    if created_gte is not None:
        params["created"] = {"gte": created_gte}
    found: list[stripe.StripeObject] = []
    while True:
        try:
            page = service.list(params)
        except stripe.StripeError as exc:
            raise _provider_error(f"{kind}.list", None, exc) from exc
        found.extend(page.data)
        if not page.has_more or not page.data:
            return found
        params["starting_after"] = page.data[-1].id
