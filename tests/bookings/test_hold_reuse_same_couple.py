"""A retried checkout gets the couple's open hold back (hold_reusable), keyed
only on the normalised e-mail, date, package and add-ons. Anyone who knows a
couple's e-mail address (a guest, an ex) and their date is handed the
couple's booking: its id, their names and the Checkout link, and with the id
the storefront's cancel URL ends the couple's hold."""

from __future__ import annotations

import pytest
from django.test import Client

from bookings.models import Booking
from tests.factories import checkout_body

pytestmark = pytest.mark.django_db


def test_someone_else_with_the_couples_email_is_not_handed_their_hold(
    tenant, tenant_api, catalog, stripe_standin, unscoped
):
    couple = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")
    assert couple.status_code == 201

    stranger = tenant_api.post(
        "/api/v1/checkout",
        checkout_body(couple_name="Mallory", email="ADA+x@example.com", phone="+15550100"),
        format="json",
    )

    # Observed: 201 with the couple's booking id, "Ada & Grace" and their
    # Checkout URL.
    assert stranger.status_code == 409
    assert stranger.json()["error"]["code"] == "date_unavailable"
    assert "Ada & Grace" not in stranger.content.decode()
    assert couple.json()["checkout_url"] not in stranger.content.decode()


def test_someone_else_with_the_couples_email_cannot_end_their_hold(
    tenant, tenant_api, catalog, stripe_standin, unscoped
):
    couple = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")
    stranger = tenant_api.post(
        "/api/v1/checkout",
        checkout_body(couple_name="Mallory", email="ada@example.com"),
        format="json",
    )
    leaked_id = (stranger.json().get("booking") or {}).get("id")
    if leaked_id:
        Client().get(f"/bookings/{leaked_id}/?checkout=canceled")

    booking = Booking.objects.get(pk=couple.json()["booking"]["id"])
    # Observed: "expired" (couple_canceled): the stranger gave the date away.
    assert booking.status == "held"
