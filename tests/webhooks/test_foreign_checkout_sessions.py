"""A tenant's connected account sells other things through Checkout too
(its own shop, Payment Links), with its own `client_reference_id`. Those
sessions' events reach the Connect endpoint under the tenant's account.
`_booking_for_session` expects a non-UUID id to raise ValueError, but
Django's UUIDField raises ValidationError: every delivery 500s, Stripe
retries for three days and then disables the endpoint, taking the real
bookings' payment events with it."""

from __future__ import annotations

import time

import pytest

from bookings import payments
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db


def test_a_paid_session_of_the_tenants_own_shop_is_ignored_not_a_500(
    webhooks, stripe_standin, tenant
):
    account = stripe_standin.create_account(charges_enabled=True)
    tenant.stripe_account_id = account["id"]
    tenant.save()
    session = payments.stripe_client().v1.checkout.sessions.create(
        {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 4_500,
                        "product_data": {"name": "Printed album"},
                    },
                    "quantity": 1,
                }
            ],
            "client_reference_id": "order-17",
            "expires_at": int(time.time()) + 45 * 60,
            "success_url": "https://shop.example/ok",
            "cancel_url": "https://shop.example/cart",
        },
        {"stripe_account": account["id"]},
    )

    delivery = stripe_standin.pay(session.id)

    # Observed: 500 (django ValidationError "“order-17” is not a valid UUID.").
    assert delivery.status == 200
    record = StripeEvent.objects.get(event_id=delivery.event["id"])
    assert (record.status, record.outcome) == (
        "ignored",
        "no booking of this tenant matches the session",
    )
