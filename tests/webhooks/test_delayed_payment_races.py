"""Delayed payments under concurrency (issue 9, #8): real threads, each with
its own connection, released together."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from bookings.models import Booking
from tests.concurrency import run_together
from tests.conftest import PLATFORM_SECRET, run_outbox
from tests.factories import checkout_body
from tools.stripe_standin import sign_payload
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db(transaction=True)


def delivery(path: str, event: dict):
    payload = json.dumps(event).encode()

    def deliver() -> int:
        return (
            Client()
            .post(
                path,
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=sign_payload(payload, PLATFORM_SECRET),
            )
            .status_code
        )

    return deliver


def start_checkout(tenant_api) -> Booking:
    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")
    return Booking.objects.get(pk=response.json()["booking"]["id"])


def test_completed_and_succeeded_delivered_together_and_repeatedly_confirm_once(
    tenant_api, catalog, stripe_standin, webhooks
):
    booking = start_checkout(tenant_api)
    stripe_standin.configure_webhooks()  # collect the events, deliver below
    completed = stripe_standin.pay(booking.stripe_checkout_session_id, async_payment=True).event
    succeeded = stripe_standin.async_succeed(booking.stripe_checkout_session_id).event

    statuses = run_together(
        [delivery(webhooks.path, completed)] * 3 + [delivery(webhooks.path, succeeded)] * 3
    )
    run_outbox()

    assert statuses == [200] * 6
    booking.refresh_from_db()
    assert (booking.status, booking.paid_cents) == ("confirmed", booking.amount_cents)
    assert sorted(StripeEvent.objects.values_list("type", "status", "attempts")) == [
        ("checkout.session.async_payment_succeeded", "processed", 1),
        ("checkout.session.completed", "processed", 1),
    ]
    assert len([m for m in mail.outbox if m.to == ["ada@example.com"]]) == 1


def test_expire_holds_racing_the_unpaid_completion_of_a_lapsed_hold_keeps_the_date(
    tenant_api, catalog, stripe_standin, webhooks
):
    # Whichever runs first, the debit holds the date: either the completion
    # finds the hold and moves it on, or it finds it expired (lapsed, not
    # failed) with the date still free and takes it back.
    booking = start_checkout(tenant_api)
    stripe_standin.configure_webhooks()
    completed = stripe_standin.pay(booking.stripe_checkout_session_id, async_payment=True).event
    Booking.objects.filter(pk=booking.pk).update(
        hold_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )

    def sweep() -> str:
        out = StringIO()
        call_command("expire_holds", stdout=out)
        return "swept"

    results = run_together([sweep, delivery(webhooks.path, completed)])

    assert results == ["swept", 200]
    booking.refresh_from_db()
    assert booking.status == "payment_processing"
    assert StripeEvent.objects.get().outcome == "payment: payment processing"
