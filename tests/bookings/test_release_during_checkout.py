"""booking_checkout commits the hold, then asks Stripe for a Checkout Session
with no lock held. Staff may release the hold (admin) in between: the
release finds no session id to expire, and checkout then stores the session
on the canceled booking and sends the couple to pay it. The couple pays a
date that is no longer theirs; Altar refunds, and the platform pays Stripe's
fee on a charge that should never have been possible."""

from __future__ import annotations

import pytest

from bookings import payments
from bookings.errors import HoldEnded
from bookings.models import Booking
from bookings.services import booking_checkout, booking_hold_release
from tenants.scoping import scopes_disabled, tenant_scope
from tests.concurrency import run_together
from tests.conftest import run_outbox
from tests.factories import TenantFactory, days_ahead, make_catalog


@pytest.mark.django_db(transaction=True)
def test_hold_released_while_its_session_is_being_opened_leaves_no_payable_session(
    stripe_standin, monkeypatch
):
    tenant = TenantFactory()
    make_catalog(tenant)
    create = payments.checkout_session_create

    def staff_release_then_create(**kwargs):
        booking = kwargs["booking"]

        def release():
            with tenant_scope(tenant):
                return booking_hold_release(tenant=tenant, booking_id=booking.pk)

        (released,) = run_together([release])  # another connection: staff in the admin
        assert isinstance(released, Booking)
        return create(**kwargs)

    monkeypatch.setattr(payments, "checkout_session_create", staff_release_then_create)

    with tenant_scope(tenant), pytest.raises(HoldEnded):
        booking_checkout(
            tenant=tenant,
            package_slug="elopement",
            add_on_slugs=[],
            event_date=days_ahead(40),
            couple_name="Ada & Grace",
            email="ada@example.com",
        )
    run_outbox()

    with scopes_disabled():
        booking = Booking.objects.get()
    assert booking.status == "canceled"
    assert booking.checkout_url == ""
    (created,) = [x for x in stripe_standin.exchanges if x.request.path == "/v1/checkout/sessions"]
    session_id = created.body["id"]
    # Expired at Stripe: nobody can pay for the released date.
    assert stripe_standin.get(session_id)["status"] == "expired"
