"""A payment event is trusted only when it matches its booking (issue 9, #7):
a signed `checkout.session.completed` whose session, amount or currency is
not the booking's is recorded for review, visible to staff and ops, and
never confirms."""

from __future__ import annotations

import pytest
from django.core import mail

from bookings.models import Booking, PaymentReview
from tenants.models import AuditEntry
from tests.conftest import run_outbox
from tests.factories import days_ahead
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db


def paid_session_event(stripe_standin, booking, **changes) -> dict:
    """The couple pays (delivery off), then Stripe signs an event about the
    same session with `changes` applied: what a confused integration or a
    second session carrying this booking's metadata would look like."""
    stripe_standin.configure_webhooks()
    genuine = stripe_standin.pay(booking.stripe_checkout_session_id).event
    session = {**genuine["data"]["object"], **changes}
    return stripe_standin.build_event("checkout.session.completed", session)


MISMATCHES = [
    ({"amount_total": 1}, "amount_mismatch", 1, "usd"),
    ({"currency": "eur"}, "currency_mismatch", 162_345, "eur"),
    ({"id": "cs_test_someOtherSession000000000000"}, "session_mismatch", 162_345, "usd"),
]


@pytest.mark.parametrize(
    ("changes", "reason", "amount", "currency"),
    MISMATCHES,
    ids=["amount", "currency", "session"],
)
def test_mismatched_payment_is_not_confirmed_and_recorded_for_review(
    checkout, stripe_standin, webhooks, tenant, changes, reason, amount, currency
):
    booking = checkout(add_ons=["flowers"])
    event = paid_session_event(stripe_standin, booking, **changes)

    first = webhooks.post(event)
    again = webhooks.post(event)  # Stripe redelivers it
    run_outbox()

    assert (first.status_code, again.status_code) == (200, 200)
    booking.refresh_from_db()
    assert (booking.status, booking.paid_cents, booking.confirmed_at) == ("held", 0, None)
    review = PaymentReview.objects.get()
    assert (
        review.booking_id,
        review.tenant_id,
        review.reason,
        review.amount_cents,
        review.currency,
        review.stripe_event_id,
        review.stripe_payment_intent_id,
        review.resolved_at,
    ) == (
        booking.pk,
        tenant.pk,
        reason,
        amount,
        currency,
        event["id"],
        event["data"]["object"]["payment_intent"],
        None,
    )
    record = StripeEvent.objects.get(event_id=event["id"])
    assert (record.status, record.outcome) == ("processed", f"payment: needs review: {reason}")
    entry = AuditEntry.objects.get(action="booking.payment_review")
    assert entry.object_id == str(booking.pk)
    assert entry.changes["payment_review"] == [None, reason]
    # No personal data in the audit entry, and nobody is told it is booked.
    # (The couple's name and e-mail exactly: a bare "ada" also matches random Stripe ids.)
    recorded = str(entry.changes).lower()
    assert (booking.couple_name.lower() in recorded, booking.email.lower() in recorded) == (
        False,
        False,
    )
    assert mail.outbox == []


def test_the_genuine_event_still_confirms_after_a_mismatched_one(
    checkout, stripe_standin, webhooks
):
    booking = checkout(add_ons=["flowers"])
    stripe_standin.configure_webhooks()
    genuine = stripe_standin.pay(booking.stripe_checkout_session_id).event
    forged = stripe_standin.build_event(
        "checkout.session.completed", {**genuine["data"]["object"], "amount_total": 1}
    )

    assert webhooks.post(forged).status_code == 200
    assert webhooks.post(genuine).status_code == 200

    booking.refresh_from_db()
    assert (booking.status, booking.paid_cents) == ("confirmed", 162_345)
    assert PaymentReview.objects.get().reason == "amount_mismatch"


def test_a_mismatched_payment_for_a_confirmed_booking_is_recorded_too(
    checkout, stripe_standin, webhooks
):
    # A second session paid for an already confirmed booking: money Stripe
    # took that no booking accounts for.
    booking = checkout()
    genuine = stripe_standin.pay(booking.stripe_checkout_session_id).event
    second = stripe_standin.build_event(
        "checkout.session.completed",
        {**genuine["data"]["object"], "id": "cs_test_secondSession00000000000000"},
    )

    assert webhooks.post(second).status_code == 200

    booking.refresh_from_db()
    assert (booking.status, booking.paid_cents) == ("confirmed", booking.amount_cents)
    assert PaymentReview.objects.get().reason == "session_mismatch"


def test_staff_see_the_review_on_the_booking_list_filter_dashboard_and_review_list(
    checkout, stripe_standin, webhooks, staff_client, other_tenant
):
    booking = checkout()
    ok = checkout(event_date=days_ahead(91).isoformat(), email="other@example.com")
    assert (
        webhooks.post(paid_session_event(stripe_standin, booking, amount_total=1)).status_code
        == 200
    )
    review = PaymentReview.objects.get()

    page = staff_client.get(f"/admin/bookings/booking/{booking.pk}/change/").content.decode()
    filtered = staff_client.get("/admin/bookings/booking/", {"attention": "payment_review"})
    dashboard = staff_client.get("/admin/").content.decode()
    reviews = staff_client.get("/admin/bookings/paymentreview/", {"resolved_at__isempty": "1"})

    assert "Payments needing review" in page and "Amount differs from the booking" in page
    assert list(filtered.context["cl"].result_list) == [booking]
    assert ok not in filtered.context["cl"].result_list
    assert 'id="dash-attention"' in dashboard
    assert "1 payment did not match its booking and was not confirmed" in dashboard
    assert list(reviews.context["cl"].result_list) == [review]


def test_staff_mark_a_review_resolved_once_audited(
    checkout, stripe_standin, webhooks, staff_client
):
    booking = checkout()
    webhooks.post(paid_session_event(stripe_standin, booking, currency="eur"))
    review = PaymentReview.objects.get()

    response = staff_client.post(
        "/admin/bookings/paymentreview/",
        {"action": "mark_resolved", "_selected_action": [review.pk]},
    )
    staff_client.post(
        "/admin/bookings/paymentreview/",
        {"action": "mark_resolved", "_selected_action": [review.pk]},
    )

    assert response.status_code == 302
    review.refresh_from_db()
    assert review.resolved_at is not None
    assert AuditEntry.objects.filter(action="booking.payment_review_resolved").count() == 1
    dashboard = staff_client.get("/admin/").content.decode()
    assert "did not match" not in dashboard


def test_another_tenants_staff_see_no_review(
    checkout, stripe_standin, webhooks, client, other_tenant
):
    from tests.factories import MembershipFactory

    booking = checkout()
    webhooks.post(paid_session_event(stripe_standin, booking, amount_total=1))
    review = PaymentReview.objects.get()
    client.force_login(MembershipFactory(tenant=other_tenant).user)

    listing = client.get("/admin/bookings/paymentreview/")
    detail = client.get(f"/admin/bookings/paymentreview/{review.pk}/change/")
    resolve = client.post(
        "/admin/bookings/paymentreview/",
        {"action": "mark_resolved", "_selected_action": [review.pk]},
    )

    assert list(listing.context["cl"].result_list) == []
    assert (detail.status_code, resolve.status_code) == (404, 302)
    review.refresh_from_db()
    assert review.resolved_at is None
    assert Booking.objects.get(pk=booking.pk).status == "held"


def test_replay_webhooks_tells_ops_what_needs_a_person(checkout, stripe_standin, webhooks):
    from io import StringIO

    from django.core.management import call_command

    booking = checkout()
    webhooks.post(paid_session_event(stripe_standin, booking, amount_total=1))
    out = StringIO()

    call_command("replay_webhooks", stdout=out)

    assert out.getvalue() == (
        "0 event(s): 0 processed, 0 ignored, 0 failed, 0 already done.\n"
        "Needs a person: 1 payment(s) needing review, 0 open dispute(s) "
        "(admin: Payments needing review, Disputes).\n"
    )
