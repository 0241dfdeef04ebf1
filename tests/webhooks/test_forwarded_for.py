"""A webhook delivery whose X-Forwarded-For is not an address (a proxy
misconfigured, or anyone on the way) is processed like any other: the
header is informational, never a 500 (issue 10 item 6)."""

from __future__ import annotations

import pytest
from django.test import Client

from bookings.models import Booking
from tests.factories import checkout_body
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("forwarded_for", ["not-an-ip", "", "999.1.1.1, ::zz", "a" * 300])
def test_webhook_with_a_malformed_forwarded_for_is_processed(
    tenant_api, catalog, stripe_standin, webhooks, unscoped, forwarded_for
):
    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")
    booking = Booking.objects.get(pk=response.json()["booking"]["id"])
    stripe_standin.configure_webhooks()  # pay without delivering
    event = stripe_standin.pay(booking.stripe_checkout_session_id).event

    delivered = webhooks.post(event, client=Client(HTTP_X_FORWARDED_FOR=forwarded_for))

    assert delivered.status_code == 200, delivered.content
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED
    assert StripeEvent.objects.filter(status=StripeEvent.Status.PROCESSED).count() == 1
