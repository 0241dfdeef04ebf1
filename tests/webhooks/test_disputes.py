"""Disputes (issue 9, #11): `charge.dispute.created/updated/closed` recorded
on the booking paid by the disputed PaymentIntent, one row per Stripe
dispute, whatever the order or number of deliveries; shown to staff,
audited."""

from __future__ import annotations

import pytest

from bookings.models import BookingDispute
from tenants.models import AuditEntry
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db


def dispute_object(stripe_standin, booking, *, status: str, dispute_id: str = "du_1Test") -> dict:
    """A Dispute as Stripe sends it at API 2026-08-26.dahlia (the fields of
    stripe/_dispute.py), about the booking's real charge on the stand-in."""
    payment_intent = stripe_standin.get(booking.stripe_payment_intent_id)
    charge = stripe_standin.get(payment_intent["latest_charge"])
    evidence_fields = (
        "access_activity_log billing_address cancellation_policy "
        "cancellation_policy_disclosure cancellation_rebuttal customer_communication "
        "customer_email_address customer_name customer_purchase_ip customer_signature "
        "duplicate_charge_documentation duplicate_charge_explanation duplicate_charge_id "
        "product_description receipt refund_policy refund_policy_disclosure "
        "refund_refusal_explanation service_date service_documentation shipping_address "
        "shipping_carrier shipping_date shipping_documentation shipping_tracking_number "
        "uncategorized_file uncategorized_text"
    ).split()
    return {
        "id": dispute_id,
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [],
        "charge": charge["id"],
        "created": charge["created"] + 86_400,
        "currency": charge["currency"],
        "enhanced_eligibility_types": [],
        "evidence": {**dict.fromkeys(evidence_fields), "enhanced_evidence": {}},
        "evidence_details": {
            "due_by": charge["created"] + 8 * 86_400,
            "enhanced_eligibility": {},
            "has_evidence": False,
            "past_due": False,
            "submission_count": 0,
        },
        "is_charge_refundable": False,
        "livemode": False,
        "metadata": {},
        "network_reason_code": "10.4",
        "payment_intent": payment_intent["id"],
        "payment_method_details": {
            "card": {"brand": "visa", "case_type": "chargeback", "network_reason_code": "10.4"},
            "type": "card",
        },
        "reason": "fraudulent",
        "status": status,
    }


def dispute_event(stripe_standin, booking, kind: str, status: str, created: int) -> dict:
    event = stripe_standin.build_event(
        f"charge.dispute.{kind}", dispute_object(stripe_standin, booking, status=status)
    )
    return {**event, "created": created}


@pytest.fixture
def paid(checkout, stripe_standin, webhooks):
    booking = checkout()
    stripe_standin.pay(booking.stripe_checkout_session_id)
    booking.refresh_from_db()
    return booking


def test_a_dispute_is_recorded_on_the_booking_audited_and_shown(
    paid, stripe_standin, webhooks, tenant, staff_client
):
    event = dispute_event(stripe_standin, paid, "created", "needs_response", 1_000)

    first = webhooks.post(event)
    again = webhooks.post(event)

    assert (first.status_code, again.status_code) == (200, 200)
    dispute = BookingDispute.objects.get()
    assert (
        dispute.booking_id,
        dispute.tenant_id,
        dispute.stripe_dispute_id,
        dispute.amount_cents,
        dispute.currency,
        dispute.reason,
        dispute.status,
        dispute.closed_at,
    ) == (
        paid.pk,
        tenant.pk,
        "du_1Test",
        paid.amount_cents,
        "usd",
        "fraudulent",
        "needs_response",
        None,
    )
    # No metadata on a Dispute: the tenant comes from the booking's payment.
    record = StripeEvent.objects.get(event_id=event["id"])
    assert (record.tenant, record.status, record.outcome) == (
        tenant,
        "processed",
        "dispute recorded: needs_response",
    )
    assert AuditEntry.objects.filter(action="booking.disputed", object_id=str(paid.pk)).count() == 1
    page = staff_client.get(f"/admin/bookings/booking/{paid.pk}/change/").content.decode()
    assert "du_1Test" in page and "needs_response" in page
    dashboard = staff_client.get("/admin/").content.decode()
    assert "1 open dispute" in dashboard
    listing = staff_client.get("/admin/bookings/booking/", {"attention": "dispute"})
    assert list(listing.context["cl"].result_list) == [paid]


def test_closed_before_created_and_stale_updates_end_closed(paid, stripe_standin, webhooks):
    created = dispute_event(stripe_standin, paid, "created", "needs_response", 1_000)
    updated = dispute_event(stripe_standin, paid, "updated", "under_review", 2_000)
    closed = dispute_event(stripe_standin, paid, "closed", "won", 3_000)

    for event in (closed, created, updated, closed):
        assert webhooks.post(event).status_code == 200

    dispute = BookingDispute.objects.get()
    assert (dispute.status, dispute.stripe_event_created) == ("won", 3_000)
    assert dispute.closed_at is not None
    assert AuditEntry.objects.filter(action__startswith="booking.dispute").count() == 1


def test_updates_in_order_move_the_status_and_an_older_one_is_ignored(
    paid, stripe_standin, webhooks, staff_client
):
    created = dispute_event(stripe_standin, paid, "created", "needs_response", 1_000)
    updated = dispute_event(stripe_standin, paid, "updated", "under_review", 2_000)
    closed = dispute_event(stripe_standin, paid, "closed", "lost", 3_000)

    webhooks.post(created)
    webhooks.post(updated)
    webhooks.post(created)  # an older event redelivered late
    assert BookingDispute.objects.get().status == "under_review"
    webhooks.post(closed)

    dispute = BookingDispute.objects.get()
    assert dispute.status == "lost"
    assert list(
        AuditEntry.objects.filter(action__startswith="booking.dispute")
        .order_by("id")
        .values_list("action", "changes__dispute_status")
    ) == [
        ("booking.disputed", [None, "needs_response"]),
        ("booking.dispute_updated", ["needs_response", "under_review"]),
        ("booking.dispute_updated", ["under_review", "lost"]),
    ]
    assert "no open dispute" in staff_client.get("/admin/").content.decode()


def test_a_dispute_on_a_payment_of_no_booking_is_ignored(paid, stripe_standin, webhooks, tenant):
    obj = {
        **dispute_object(stripe_standin, paid, status="needs_response"),
        "payment_intent": "pi_1NotOurs0000000000",
    }
    event = stripe_standin.build_event("charge.dispute.created", obj)

    assert webhooks.post(event).status_code == 200

    assert BookingDispute.objects.count() == 0
    record = StripeEvent.objects.get(event_id=event["id"])
    assert (record.status, record.outcome) == ("ignored", "no tenant matches this event")
