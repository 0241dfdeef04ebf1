"""A date change's pay link paid on Stripe: the webhook records it on the
change (once, however often delivered), not as the booking's checkout."""

from __future__ import annotations

import pytest

from bookings.models import BookingDateChange, BookingPolicy, PaymentReview
from bookings.services import booking_date_change
from catalog.models import Package
from tenants.scoping import tenant_scope
from tests.conftest import run_outbox
from tests.factories import days_ahead
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db


def test_paying_the_pay_link_records_the_change_once(
    tenant, catalog, checkout, webhooks, stripe_standin, unscoped
):
    BookingPolicy.objects.create(tenant=tenant, date_change_allowed=True)
    booking = checkout(add_ons=[])
    stripe_standin.pay(booking.stripe_checkout_session_id)
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    Package.objects.filter(pk=catalog.package.pk).update(price_cents=170_000)
    with tenant_scope(tenant):
        change = booking_date_change(
            tenant=tenant, booking_id=booking.pk, new_date=days_ahead(130), by="staff"
        )
    run_outbox()
    change.refresh_from_db()

    delivery = stripe_standin.pay(change.stripe_checkout_session_id)
    again = stripe_standin.deliver(delivery.event, times=2)

    assert delivery.status == 200
    assert again == [200, 200]
    change.refresh_from_db()
    booking.refresh_from_db()
    assert (change.payment, change.due_cents) == (BookingDateChange.Payment.PAID, 20_000)
    assert (booking.paid_cents, booking.amount_cents) == (170_000, 170_000)
    assert booking.commission_cents == 17_000
    assert booking.stripe_checkout_session_id != change.stripe_checkout_session_id
    assert PaymentReview.objects.count() == 0
    assert StripeEvent.objects.filter(outcome="date change: date change paid").count() == 1
