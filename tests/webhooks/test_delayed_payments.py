"""Delayed payment methods (issue 9, #8): a bank debit completes the Checkout
Session unpaid and settles days later. Meanwhile the booking is
`payment_processing` and its date stays occupied, whatever the hold's
expiry or `expire_holds` say; `async_payment_succeeded` confirms it,
`async_payment_failed` frees the date. Deliveries in any order, any number
of times, end the same way."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from bookings.models import Booking, BookingRefund
from tests.conftest import run_outbox
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db


def debit_events(stripe_standin, booking, *, succeed: bool = True) -> tuple[dict, dict]:
    """The couple pays by bank debit and the debit settles (or fails); the
    two events Stripe sends, not yet delivered."""
    stripe_standin.configure_webhooks()
    completed = stripe_standin.pay(booking.stripe_checkout_session_id, async_payment=True).event
    session = booking.stripe_checkout_session_id
    outcome = (stripe_standin.async_succeed if succeed else stripe_standin.async_fail)(session)
    return completed, outcome.event


def lapse(booking) -> None:
    Booking.objects.filter(pk=booking.pk).update(
        hold_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )


def availability(tenant_api, day) -> dict:
    return tenant_api.get(f"/api/v1/availability/{day}").json()


def test_unpaid_completion_keeps_the_date_while_the_debit_settles(
    checkout, stripe_standin, webhooks, tenant_api, tenant
):
    booking = checkout()
    delivery = stripe_standin.pay(booking.stripe_checkout_session_id, async_payment=True)
    lapse(booking)  # the 30-minute hold is long over; the debit takes days
    call_command("expire_holds", stdout=StringIO())
    rival = tenant_api.post(
        "/api/v1/checkout",
        {
            "package": "elopement",
            "add_ons": [],
            "event_date": booking.event_date.isoformat(),
            "couple_name": "Someone Else",
            "email": "else@example.com",
        },
        format="json",
    )

    assert delivery.status == 200
    booking.refresh_from_db()
    assert booking.status == "payment_processing"
    assert booking.paid_cents == 0
    assert booking.stripe_payment_intent_id == delivery.event["data"]["object"]["payment_intent"]
    assert StripeEvent.objects.get().outcome == "payment: payment processing"
    assert availability(tenant_api, booking.event_date) == {
        "date": booking.event_date.isoformat(),
        "available": False,
        "reason": "held",
    }
    assert rival.status_code == 409
    assert rival.json()["error"]["fields"]["event_date"][0]["code"] == "held"
    assert tenant_api.get(f"/api/v1/bookings/{booking.pk}").json()["status"] == (
        "payment_processing"
    )
    page = Client().get(f"/bookings/{booking.pk}/").content.decode()
    assert "Your bank is processing the payment" in page
    assert mail.outbox == []


def test_settled_debit_confirms_once_and_mails_once(checkout, stripe_standin, webhooks, tenant_api):
    booking = checkout(add_ons=["flowers"])
    completed, succeeded = debit_events(stripe_standin, booking)

    statuses = [webhooks.post(e).status_code for e in (completed, succeeded, succeeded, completed)]
    run_outbox()

    assert statuses == [200, 200, 200, 200]
    booking.refresh_from_db()
    assert (booking.status, booking.paid_cents) == ("confirmed", 162_345)
    assert StripeEvent.objects.get(event_id=succeeded["id"]).outcome == (
        "payment: confirmed: the delayed payment succeeded"
    )
    assert [m.to for m in mail.outbox if m.to == ["ada@example.com"]] == [["ada@example.com"]]
    assert availability(tenant_api, booking.event_date)["reason"] == "booked"


def test_failed_debit_frees_the_date(checkout, stripe_standin, webhooks, tenant_api):
    booking = checkout()
    completed, failed = debit_events(stripe_standin, booking, succeed=False)

    assert webhooks.post(completed).status_code == 200
    assert webhooks.post(failed).status_code == 200

    booking.refresh_from_db()
    assert (booking.status, booking.expire_reason, booking.paid_cents) == (
        "expired",
        "payment_failed",
        0,
    )
    assert availability(tenant_api, booking.event_date)["available"] is True


def test_succeeded_before_completed_confirms_and_the_late_completion_changes_nothing(
    checkout, stripe_standin, webhooks
):
    booking = checkout()
    completed, succeeded = debit_events(stripe_standin, booking)

    assert webhooks.post(succeeded).status_code == 200
    assert webhooks.post(completed).status_code == 200
    run_outbox()

    booking.refresh_from_db()
    assert (booking.status, booking.paid_cents) == ("confirmed", booking.amount_cents)
    assert StripeEvent.objects.get(event_id=completed["id"]).outcome == ("payment: left confirmed")
    assert len([m for m in mail.outbox if m.to == ["ada@example.com"]]) == 1


def test_failed_before_completed_stays_expired_and_free(
    checkout, stripe_standin, webhooks, tenant_api
):
    booking = checkout()
    completed, failed = debit_events(stripe_standin, booking, succeed=False)

    assert webhooks.post(failed).status_code == 200
    assert webhooks.post(completed).status_code == 200

    booking.refresh_from_db()
    assert (booking.status, booking.expire_reason) == ("expired", "payment_failed")
    assert availability(tenant_api, booking.event_date)["available"] is True


def test_session_expired_after_processing_does_not_free_the_date(
    checkout, stripe_standin, webhooks, tenant_api
):
    booking = checkout()
    stripe_standin.pay(booking.stripe_checkout_session_id, async_payment=True)
    session = stripe_standin.get(booking.stripe_checkout_session_id)
    stray = stripe_standin.build_event(
        "checkout.session.expired", {**session, "status": "expired", "url": None}
    )

    assert webhooks.post(stray).status_code == 200

    booking.refresh_from_db()
    assert booking.status == "payment_processing"
    assert availability(tenant_api, booking.event_date)["reason"] == "held"


def test_lapsed_hold_takes_its_date_back_when_the_debit_completes_and_it_is_free(
    checkout, stripe_standin, webhooks
):
    booking = checkout()
    completed, succeeded = debit_events(stripe_standin, booking)
    lapse(booking)
    call_command("expire_holds", stdout=StringIO())

    assert webhooks.post(completed).status_code == 200
    booking.refresh_from_db()
    assert booking.status == "payment_processing"
    assert webhooks.post(succeeded).status_code == 200
    booking.refresh_from_db()
    assert booking.status == "confirmed"


def test_debit_for_a_date_someone_else_took_is_canceled_then_refunded_once(
    checkout, stripe_standin, webhooks
):
    booking = checkout()
    completed, succeeded = debit_events(stripe_standin, booking)
    lapse(booking)
    rival = checkout(couple_name="Someone Else", email="else@example.com")

    webhooks.post(completed)
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == ("canceled", "date_taken")
    webhooks.post(succeeded)
    webhooks.post(succeeded)
    run_outbox()

    booking.refresh_from_db()
    rival.refresh_from_db()
    assert (booking.paid_cents, booking.refunded_cents) == (
        booking.amount_cents,
        booking.amount_cents,
    )
    assert rival.status == "held"
    assert BookingRefund.objects.filter(booking=booking).count() == 1
    refunds = [r for r in stripe_standin.requests if r.path == "/v1/refunds"]
    assert len(refunds) == 1


def test_expire_holds_never_expires_a_processing_payment(tenant, unscoped):
    from tests.factories import BookingFactory

    processing = BookingFactory(
        tenant=tenant,
        status=Booking.Status.PAYMENT_PROCESSING,
        hold_expires_at=timezone.now() - dt.timedelta(days=3),
    )

    out = StringIO()
    call_command("expire_holds", stdout=out)

    processing.refresh_from_db()
    assert processing.status == "payment_processing"
    assert processing.public_status == "payment_processing"


def test_processing_payments_appear_on_the_dashboard_and_in_the_status_filter(
    checkout, stripe_standin, webhooks, staff_client
):
    booking = checkout()
    stripe_standin.pay(booking.stripe_checkout_session_id, async_payment=True)

    dashboard = staff_client.get("/admin/").content.decode()
    listing = staff_client.get("/admin/bookings/booking/", {"status__exact": "payment_processing"})

    assert "Delayed payments still processing" in dashboard
    assert list(listing.context["cl"].result_list) == [booking]


def test_the_database_admits_one_processing_or_held_booking_per_date(tenant, unscoped):
    from django.db import IntegrityError

    from tests.factories import BookingFactory

    first = BookingFactory(tenant=tenant, status=Booking.Status.PAYMENT_PROCESSING)

    with pytest.raises(IntegrityError) as caught:
        BookingFactory(
            tenant=tenant,
            package=first.package,
            event_date=first.event_date,
            status=Booking.Status.HELD,
        )

    assert caught.value.__cause__.diag.constraint_name == (
        "bookings_booking_tenant_event_date_active_uniq"
    )


def test_staff_cancel_a_processing_payment_and_a_later_success_is_refunded_once(
    checkout, stripe_standin, webhooks, tenant, tenant_api
):
    from bookings.services import booking_cancel

    booking = checkout()
    completed, succeeded = debit_events(stripe_standin, booking)
    webhooks.post(completed)

    booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=None)
    assert availability(tenant_api, booking.event_date)["available"] is True
    webhooks.post(succeeded)
    webhooks.post(succeeded)
    run_outbox()

    booking.refresh_from_db()
    assert (booking.status, booking.paid_cents, booking.refunded_cents) == (
        "canceled",
        booking.amount_cents,
        booking.amount_cents,
    )
    assert len([r for r in stripe_standin.requests if r.path == "/v1/refunds"]) == 1
