"""POST /api/v1/checkout through the real Stripe client against the stand-in."""

from __future__ import annotations

import pytest

from bookings.models import Booking, BookingAddOn
from tests.bookings.conftest import checkout_body, days_ahead

pytestmark = pytest.mark.django_db


def test_checkout_holds_the_date_and_opens_a_stripe_session(tenant_api, tenant, catalog, stripe_standin, unscoped):
    response = tenant_api.post("/api/v1/checkout", checkout_body(add_ons=["flowers", "photos"]), format="json")

    assert response.status_code == 201, response.json()
    body = response.json()
    booking = Booking.objects.get()
    assert body["booking"]["id"] == str(booking.pk)
    assert body["booking"]["status"] == "held"
    assert body["booking"]["amount_cents"] == 150_000 + 12_345 + 40_000
    assert body["checkout_url"] == booking.checkout_url
    session = stripe_standin.get(booking.stripe_checkout_session_id)
    assert session["client_reference_id"] == str(booking.pk)
    assert session["metadata"] == {"booking_id": str(booking.pk), "tenant": tenant.slug}
    assert session["expires_at"] == int(booking.hold_expires_at.timestamp())
    assert session["amount_total"] == booking.amount_cents
    assert BookingAddOn.objects.count() == 2
