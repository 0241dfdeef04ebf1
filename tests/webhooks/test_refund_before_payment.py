"""Stripe does not order events: a refund made in the dashboard right after
the payment (or while the payment's webhook is failing and being retried)
can reach Altar before `checkout.session.completed`. The refund must still
be counted once the payment is."""

from __future__ import annotations

import pytest

from bookings.models import BookingRefund
from tests.conftest import run_outbox
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db


def test_dashboard_refund_delivered_before_the_payment_is_counted(
    checkout, stripe_standin, webhooks
):
    booking = checkout()
    stripe_standin.configure_webhooks()  # hold every event back; deliver below
    completed = stripe_standin.pay(booking.stripe_checkout_session_id).event
    payment_intent = stripe_standin.get(booking.stripe_checkout_session_id)["payment_intent"]
    stripe_standin.refund_in_dashboard(payment_intent, amount=3_000)
    refund_created = next(e for e in stripe_standin.events if e["type"] == "refund.created")

    first = webhooks.post(refund_created)
    second = webhooks.post(completed)
    run_outbox()  # the payment's refunds are fetched once it is recorded

    assert (first.status_code, second.status_code) == (200, 200)
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    assert booking.paid_cents == booking.amount_cents
    # The refund.created event found no booking with that payment intent
    # yet (ignored); the refunds fetched after the payment count it.
    assert booking.refunded_cents == 3_000
    assert list(BookingRefund.objects.values_list("amount_cents", "status")) == [
        (3_000, "succeeded")
    ]
    assert StripeEvent.objects.get(event_id=refund_created["id"]).status == "ignored"
