"""Concurrent deliveries of one event, as Stripe's retries can produce:
threads with their own connections, released together."""

from __future__ import annotations

import json

import pytest
from django.core import mail
from django.test import Client

from bookings.models import Booking
from tests.concurrency import run_together
from tests.conftest import PLATFORM_SECRET, run_outbox
from tools.stripe_standin import sign_payload
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("deliveries", [10, 20])
def test_concurrent_duplicate_deliveries_confirm_once_and_mail_once(
    tenant_api, catalog, stripe_standin, webhooks, deliveries
):
    from tests.factories import checkout_body

    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")
    booking = Booking.objects.get(pk=response.json()["booking"]["id"])
    stripe_standin.configure_webhooks()  # pay now, deliver below
    event = stripe_standin.pay(booking.stripe_checkout_session_id).event
    payload = json.dumps(event).encode()

    def deliver():
        return (
            Client()
            .post(
                webhooks.path,
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign_payload(payload, PLATFORM_SECRET),
            )
            .status_code
        )

    statuses = run_together([deliver] * deliveries)
    run_outbox()

    assert statuses == [200] * deliveries
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    record = StripeEvent.objects.get()
    assert (record.status, record.attempts) == ("processed", 1)
    assert len([m for m in mail.outbox if m.to == ["ada@example.com"]]) == 1
