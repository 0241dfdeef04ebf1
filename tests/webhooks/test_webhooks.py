"""Stripe webhooks end to end: signed deliveries through the real endpoint."""

from __future__ import annotations

import datetime as dt
import json
import time
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from djstripe.models import WebhookEventTrigger

from bookings.models import Booking, BookingRefund
from tests.conftest import CONNECT_SECRET, run_outbox
from tools.stripe_standin import sign_payload
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db


def completed_event(standin, booking) -> dict:
    """Pay on the stand-in and return the `checkout.session.completed` it
    delivered (already delivered once)."""
    delivery = standin.pay(booking.stripe_checkout_session_id)
    return delivery.event


def test_end_to_end_checkout_pay_confirm_mail_availability(
    tenant_api, tenant, checkout, stripe_standin, webhooks
):
    booking = checkout(add_ons=["flowers"])

    delivery = stripe_standin.pay(booking.stripe_checkout_session_id)
    run_outbox()

    assert delivery.status == 200
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    assert booking.paid_cents == 162_345
    event = StripeEvent.objects.get()
    assert (event.event_id, event.type, event.status) == (
        delivery.event["id"],
        "checkout.session.completed",
        "processed",
    )
    assert event.payload["id"] == delivery.event["id"]
    assert event.processed_at is not None and event.attempts == 1
    assert event.tenant == tenant
    assert mail.outbox[0].to == ["ada@example.com"]
    assert tenant_api.get(f"/api/v1/availability/{booking.event_date}").json() == {
        "date": booking.event_date.isoformat(),
        "available": False,
        "reason": "booked",
    }
    assert tenant_api.get(f"/api/v1/bookings/{booking.pk}").json()["status"] == "confirmed"
    trigger = WebhookEventTrigger.objects.get()
    assert (trigger.valid, trigger.processed, trigger.exception) == (True, True, "")


@pytest.mark.parametrize(
    ("signature", "code"),
    [
        ("", "signature_missing"),
        ("t=1,v1=deadbeef", "signature_invalid"),
        ("garbage", "signature_invalid"),
    ],
)
def test_bad_or_missing_signature_is_400_and_nothing_happens(
    checkout, stripe_standin, webhooks, signature, code
):
    booking = checkout()
    stripe_standin.configure_webhooks()  # pay without delivering
    event = completed_event(stripe_standin, booking)

    response = webhooks.post(event, signature=signature)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    booking.refresh_from_db()
    assert booking.status == "held"
    assert StripeEvent.objects.count() == 0


def test_wrong_secret_and_stale_timestamp_are_refused(checkout, stripe_standin, webhooks):
    booking = checkout()
    stripe_standin.configure_webhooks()
    event = completed_event(stripe_standin, booking)
    payload = json.dumps(event).encode()

    wrong = webhooks.post(event, secret="whsec_someoneElse000000000000")
    stale = webhooks.post(
        event,
        signature=sign_payload(
            payload, "whsec_platformTestSecret0000000000", timestamp=int(time.time()) - 3600
        ),
    )

    assert (wrong.status_code, stale.status_code) == (400, 400)
    assert StripeEvent.objects.count() == 0


def test_unknown_endpoint_is_404(checkout, stripe_standin, webhooks):
    response = webhooks.post(
        {"id": "evt_x", "type": "ping"},
        path="/stripe/webhook/00000000-0000-0000-0000-000000000000/",
    )

    assert response.status_code == 404
    assert StripeEvent.objects.count() == 0


def test_redelivery_is_answered_2xx_with_one_effect(checkout, stripe_standin, webhooks):
    booking = checkout()
    event = completed_event(stripe_standin, booking)
    statuses = stripe_standin.deliver(event, times=3)
    run_outbox()

    assert statuses == [200, 200, 200]
    assert StripeEvent.objects.count() == 1
    assert Booking.objects.get().status == "confirmed"
    assert len([m for m in mail.outbox if m.to == ["ada@example.com"]]) == 1


def test_processing_failure_is_500_recorded_without_pii_then_redelivery_succeeds(
    checkout, stripe_standin, webhooks
):
    booking = checkout(couple_name="Zoë Secretname", email="zoe.secret@example.com")
    stripe_standin.configure_webhooks()
    event = completed_event(stripe_standin, booking)
    # Inject a database failure: any update of a booking raises, carrying the
    # row's personal data in PostgreSQL's message.
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE FUNCTION altar_test_fail() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'injected failure for %', NEW.email; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER altar_test_fail BEFORE UPDATE ON bookings_booking
            FOR EACH ROW EXECUTE FUNCTION altar_test_fail();
        """)

    failed = webhooks.post(event)

    assert failed.status_code == 500
    record = StripeEvent.objects.get()
    assert (record.status, record.attempts) == ("failed", 1)
    assert record.last_error_type == "django.db.utils.ProgrammingError"
    assert record.last_error_message == "database error (SQLSTATE P0001)"
    stored = f"{record.last_error_type} {record.last_error_message} {record.outcome}"
    assert "zoe" not in stored.lower() and "secretname" not in stored.lower()
    trigger = WebhookEventTrigger.objects.get()
    assert "zoe" not in (trigger.exception or "").lower()
    booking.refresh_from_db()
    assert booking.status == "held"

    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER altar_test_fail ON bookings_booking; DROP FUNCTION altar_test_fail();"
        )
    retried = webhooks.post(event)

    assert retried.status_code == 200
    record.refresh_from_db()
    assert (record.status, record.attempts, record.last_error_type) == ("processed", 2, "")
    booking.refresh_from_db()
    assert booking.status == "confirmed"


def test_expired_after_completed_does_not_unconfirm(checkout, stripe_standin, webhooks):
    booking = checkout()
    completed_event(stripe_standin, booking)
    session = stripe_standin.get(booking.stripe_checkout_session_id)
    expired = stripe_standin.build_event(
        "checkout.session.expired", {**session, "status": "expired"}
    )

    response = webhooks.post(expired)

    assert response.status_code == 200
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    assert StripeEvent.objects.get(event_id=expired["id"]).outcome == "release: left confirmed"


def test_completed_after_expired_confirms_when_the_date_is_free(checkout, stripe_standin, webhooks):
    booking = checkout()
    stripe_standin.expire(booking.stripe_checkout_session_id)  # delivers checkout.session.expired
    booking.refresh_from_db()
    assert booking.status == "expired"
    session = stripe_standin.get(booking.stripe_checkout_session_id)
    late = stripe_standin.build_event(
        "checkout.session.completed",
        {
            **session,
            "status": "complete",
            "payment_status": "paid",
            "payment_intent": "pi_late0001",
        },
    )

    webhooks.post(late)

    booking.refresh_from_db()
    assert booking.status == "confirmed"


def test_completed_after_expired_refunds_once_when_the_date_was_taken(
    checkout, stripe_standin, webhooks
):
    booking = checkout()
    stripe_standin.configure_webhooks()
    paid = completed_event(stripe_standin, booking)  # paid, but not delivered yet
    Booking.objects.filter(pk=booking.pk).update(
        hold_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    checkout(couple_name="Second Couple")  # takes the date (expires the lapsed hold)
    booking.refresh_from_db()
    assert booking.status == "expired"

    first = webhooks.post(paid)
    run_outbox()
    second = webhooks.post(paid)
    run_outbox()

    assert (first.status_code, second.status_code) == (200, 200)
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason, booking.refunded_cents) == (
        "canceled",
        "date_taken",
        booking.amount_cents,
    )
    assert (
        len([r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/refunds"])
        == 1
    )


def test_unknown_event_type_is_recorded_and_answered_2xx(webhooks, stripe_standin, tenant):
    event = stripe_standin.build_event(
        "customer.created",
        {"id": "cus_1", "object": "customer", "metadata": {"tenant": tenant.slug}},
    )

    response = webhooks.post(event)

    assert response.status_code == 200
    record = StripeEvent.objects.get()
    assert (record.status, record.outcome, record.tenant) == (
        "ignored",
        "event type not handled",
        tenant,
    )


@pytest.mark.parametrize(
    "metadata",
    [
        {},
        {"tenant": "no-such-tenant"},
        {"tenant": "alpha-weddings", "booking_id": "00000000-0000-0000-0000-000000000000"},
    ],
)
def test_event_for_unknown_tenant_or_booking_is_recorded_without_effect(
    webhooks, stripe_standin, tenant, checkout, metadata
):
    booking = checkout()
    session = {
        "id": "cs_unknown",
        "object": "checkout.session",
        "payment_status": "paid",
        "metadata": metadata,
        "amount_total": 100,
        "payment_intent": "pi_unknown",
    }
    event = stripe_standin.build_event("checkout.session.completed", session)

    response = webhooks.post(event)

    assert response.status_code == 200
    record = StripeEvent.objects.get()
    assert record.status == "ignored"
    booking.refresh_from_db()
    assert booking.status == "held"


def test_dashboard_refund_is_recorded_from_charge_refunded(checkout, stripe_standin, webhooks):
    booking = checkout()
    completed_event(stripe_standin, booking)
    booking.refresh_from_db()

    delivery = stripe_standin.refund_in_dashboard(booking.stripe_payment_intent_id, amount=10_000)

    assert delivery.status == 200
    booking.refresh_from_db()
    assert booking.refunded_cents == 10_000
    assert BookingRefund.objects.get().reason == "stripe_dashboard"


def test_connect_events_reach_the_owning_tenant_only(
    webhooks, stripe_standin, tenant, other_tenant
):
    account = stripe_standin.create_account(charges_enabled=False)
    tenant.stripe_account_id = account["id"]
    tenant.save()

    delivery = stripe_standin.update_account(account["id"], charges_enabled=True)

    assert delivery.status == 200
    tenant.refresh_from_db()
    other_tenant.refresh_from_db()
    assert tenant.stripe_charges_enabled is True
    assert other_tenant.stripe_charges_enabled is False
    assert StripeEvent.objects.get().tenant == tenant


def test_account_updated_turning_charges_on_makes_checkout_use_the_account(
    webhooks, stripe_standin, tenant, checkout
):
    account = stripe_standin.create_account(charges_enabled=False)
    tenant.stripe_account_id = account["id"]
    tenant.save()
    stripe_standin.update_account(account["id"], charges_enabled=True)

    booking = checkout()

    assert booking.stripe_account_id == account["id"]
    session_call = [r for r in stripe_standin.requests if r.path == "/v1/checkout/sessions"][-1]
    assert session_call.params["payment_intent_data"]["transfer_data"] == {
        "destination": account["id"]
    }
    assert (
        int(session_call.params["payment_intent_data"]["application_fee_amount"])
        == booking.commission_cents
    )


def test_connect_event_signed_with_the_platform_secret_is_refused(webhooks, stripe_standin, tenant):
    account = stripe_standin.create_account(charges_enabled=True)
    event = stripe_standin.build_event("account.updated", account, account=account["id"])

    refused = webhooks.post(event, path=webhooks.connect_path)
    accepted = webhooks.post(event, path=webhooks.connect_path, secret=CONNECT_SECRET)

    assert (refused.status_code, accepted.status_code) == (400, 200)


def test_replay_failed_reprocesses_and_twice_has_no_further_effect(
    checkout, stripe_standin, webhooks
):
    booking = checkout()
    stripe_standin.configure_webhooks()
    event = completed_event(stripe_standin, booking)
    with connection.cursor() as cursor:
        cursor.execute("""
            CREATE FUNCTION altar_test_fail() RETURNS trigger AS $$
            BEGIN RAISE EXCEPTION 'injected'; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER altar_test_fail BEFORE UPDATE ON bookings_booking
            FOR EACH ROW EXECUTE FUNCTION altar_test_fail();
        """)
    assert webhooks.post(event).status_code == 500
    with connection.cursor() as cursor:
        cursor.execute(
            "DROP TRIGGER altar_test_fail ON bookings_booking; DROP FUNCTION altar_test_fail();"
        )

    first, second = StringIO(), StringIO()
    call_command("replay_webhooks", "--failed", stdout=first)
    call_command("replay_webhooks", "--failed", stdout=second)

    booking.refresh_from_db()
    record = StripeEvent.objects.get()
    assert booking.status == "confirmed"
    assert (record.status, record.attempts) == ("processed", 2)
    assert first.getvalue() == "1 event(s): 1 processed, 0 ignored, 0 failed, 0 already done.\n"
    assert second.getvalue() == "0 event(s): 0 processed, 0 ignored, 0 failed, 0 already done.\n"


def test_webhook_makes_no_stripe_call_and_keeps_no_djstripe_mirror(
    checkout, stripe_standin, webhooks
):
    from djstripe.models import Event

    booking = checkout()
    # The stand-in delivered the event once already: post it under a new id.
    event = {**completed_event(stripe_standin, booking), "id": "evt_redelivered_as_new"}
    # Any Stripe read on the request path (dj-stripe's mirror made two) fails.
    stripe_standin.fail_next("GET", "/v1/", status=500, count=100)

    response = webhooks.post(event)
    again = webhooks.post(event)

    assert response.status_code == 200
    assert response.json()["duplicate"] is False
    assert again.json()["duplicate"] is True
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    assert StripeEvent.objects.get(event_id=event["id"]).attempts == 1
    # One delivery row for the delivery that was processed; the duplicate is
    # answered from the event's row, and nothing is mirrored.
    trigger = WebhookEventTrigger.objects.get(body__contains=event["id"])
    assert (trigger.processed, trigger.exception) == (True, "")
    assert not Event.objects.exists()


def test_duplicate_delivery_is_answered_from_one_query(
    checkout, stripe_standin, webhooks, django_assert_num_queries
):
    booking = checkout()
    # The stand-in delivered the event once already: post it under a new id.
    event = {**completed_event(stripe_standin, booking), "id": "evt_redelivered_as_new"}
    assert webhooks.post(event).json()["duplicate"] is False

    with django_assert_num_queries(1):
        again = webhooks.post(event)

    assert again.status_code == 200
    assert again.json() == {
        "received": True,
        "event": event["id"],
        "status": StripeEvent.objects.get(event_id=event["id"]).status,
        "duplicate": True,
    }
    assert WebhookEventTrigger.objects.filter(body__contains=event["id"]).count() == 1
