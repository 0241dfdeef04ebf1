"""The cancel page's partial refund is decided on the figures the person saw
("refund half, keep half"). booking_cancel refuses a partial choice if a
payment landed since (seen_paid_cents), but not if a refund did: a refund
made meanwhile in Stripe's dashboard (the owner, or a colleague) is added
on top, and the business keeps nothing of what the review promised."""

from __future__ import annotations

import re

import pytest

from bookings.models import BookingRefund

pytestmark = pytest.mark.django_db

BOOKINGS = "/admin/bookings/booking/"


def test_partial_refund_chosen_before_a_dashboard_refund_is_refused_for_review(
    checkout, stripe_standin, webhooks, staff_client
):
    booking = checkout()
    assert stripe_standin.pay(booking.stripe_checkout_session_id).status == 200
    booking.refresh_from_db()
    half = booking.paid_cents // 2
    page = staff_client.get(f"{BOOKINGS}{booking.pk}/cancel/").content.decode()
    # What the browser posts back: the page's hidden fields, as shown.
    hidden = dict(re.findall(r'<input type="hidden" name="(seen_\w+)" value="(\d*)"', page))
    assert "seen_paid_cents" in hidden

    # Meanwhile the owner refunds half in Stripe's dashboard (recorded by its webhook).
    stripe_standin.refund_in_dashboard(booking.stripe_payment_intent_id, amount=half)
    booking.refresh_from_db()
    assert booking.refunded_cents == half

    response = staff_client.post(
        f"{BOOKINGS}{booking.pk}/cancel/",
        {"refund": "partial", "amount": f"{half / 100:.2f}", "_confirm": "1", **hidden},
    )

    # Observed: 302, canceled, a second refund of half reserved: all of it refunded.
    assert response.status_code == 200
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    assert BookingRefund.objects.filter(reason="staff_cancel").count() == 0
