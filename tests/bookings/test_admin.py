"""The bookings admin, through the real admin pages as staff would use them."""

from __future__ import annotations

import pytest

from bookings.models import BlackoutDate, Booking
from tests.conftest import run_outbox
from tests.factories import BlackoutDateFactory, BookingFactory, days_ahead

pytestmark = pytest.mark.django_db


def test_staff_see_only_their_bookings_and_search_by_name(
    staff_client, tenant, other_tenant, unscoped
):
    mine = BookingFactory(tenant=tenant, couple_name="Ada Lovelace")
    BookingFactory(tenant=other_tenant, couple_name="Ada Elsewhere")

    page = staff_client.get("/admin/bookings/booking/", {"q": "Ada"})

    assert page.status_code == 200
    assert list(page.context["cl"].result_list) == [mine]


def test_staff_cannot_open_or_cancel_another_tenants_booking(staff_client, other_tenant, unscoped):
    theirs = BookingFactory(tenant=other_tenant, status=Booking.Status.CONFIRMED)

    change = staff_client.get(f"/admin/bookings/booking/{theirs.pk}/change/")
    cancel_page = staff_client.get(f"/admin/bookings/booking/{theirs.pk}/cancel/")
    cancel_post = staff_client.post(
        f"/admin/bookings/booking/{theirs.pk}/cancel/", {"refund": "none", "_confirm": "1"}
    )

    assert (change.status_code, cancel_page.status_code, cancel_post.status_code) == (404, 404, 404)
    theirs.refresh_from_db()
    assert theirs.status == "confirmed"


def test_staff_cancel_with_partial_refund(staff_client, paid_booking, stripe_standin):
    page = staff_client.get(f"/admin/bookings/booking/{paid_booking.pk}/change/")
    assert page.status_code == 200
    assert f"/admin/bookings/booking/{paid_booking.pk}/cancel/" in page.content.decode()

    response = staff_client.post(
        f"/admin/bookings/booking/{paid_booking.pk}/cancel/",
        {"refund": "partial", "amount": "500.25", "_confirm": "1"},
    )

    assert response.status_code == 302
    run_outbox()  # the refund reaches Stripe through the outbox
    paid_booking.refresh_from_db()
    assert (paid_booking.status, paid_booking.refunded_cents) == ("canceled", 50_025)
    detail = staff_client.get(f"/admin/bookings/booking/{paid_booking.pk}/change/").content.decode()
    assert "500.25 USD" in detail


def test_cancel_form_refuses_more_than_paid_and_changes_nothing(
    staff_client, paid_booking, stripe_standin
):
    response = staff_client.post(
        f"/admin/bookings/booking/{paid_booking.pk}/cancel/",
        {"refund": "partial", "amount": "99999.00", "_confirm": "1"},
    )

    assert response.status_code == 200
    assert "More than what is left" in response.content.decode()
    paid_booking.refresh_from_db()
    assert paid_booking.status == "confirmed"
    assert [
        r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/refunds"
    ] == []


def test_superuser_sees_every_tenants_bookings(superuser_client, tenant, other_tenant, unscoped):
    BookingFactory(tenant=tenant)
    BookingFactory(tenant=other_tenant)

    page = superuser_client.get("/admin/bookings/booking/")

    assert page.context["cl"].result_count == 2


def test_blackout_range_is_added_for_the_staff_tenant(staff_client, tenant, other_tenant, unscoped):
    BlackoutDateFactory(tenant=tenant, date=days_ahead(11), reason="Already")

    response = staff_client.post(
        "/admin/bookings/blackoutdate/add-range/",
        {
            "start": days_ahead(10).isoformat(),
            "end": days_ahead(12).isoformat(),
            "reason": "Holiday",
        },
    )

    assert response.status_code == 302
    assert sorted(BlackoutDate.objects.filter(tenant=tenant).values_list("date", "reason")) == [
        (days_ahead(10), "Holiday"),
        (days_ahead(11), "Already"),
        (days_ahead(12), "Holiday"),
    ]
    assert BlackoutDate.objects.filter(tenant=other_tenant).count() == 0


def test_blackout_single_date_add_and_cross_tenant_404(
    staff_client, tenant, other_tenant, unscoped
):
    theirs = BlackoutDateFactory(tenant=other_tenant)

    added = staff_client.post(
        "/admin/bookings/blackoutdate/add/", {"date": days_ahead(20).isoformat(), "reason": "Off"}
    )
    foreign = staff_client.get(f"/admin/bookings/blackoutdate/{theirs.pk}/change/")
    foreign_delete = staff_client.post(
        f"/admin/bookings/blackoutdate/{theirs.pk}/delete/", {"post": "yes"}
    )

    assert added.status_code == 302
    assert BlackoutDate.objects.get(tenant=tenant).date == days_ahead(20)
    assert (foreign.status_code, foreign_delete.status_code) == (404, 404)
    assert BlackoutDate.objects.filter(pk=theirs.pk).exists()


def test_stripe_event_admin_is_scoped(staff_client, superuser, tenant, other_tenant, unscoped):
    from django.test import Client

    from webhooks.models import StripeEvent

    superuser_client = Client()  # the `client` fixture is staff_client's
    superuser_client.force_login(superuser)

    mine = StripeEvent.objects.create(
        event_id="evt_mine", type="x", tenant=tenant, status="processed", payload={}
    )
    theirs = StripeEvent.objects.create(
        event_id="evt_theirs", type="x", tenant=other_tenant, status="failed", payload={}
    )

    listing = staff_client.get("/admin/webhooks/stripeevent/")
    foreign = staff_client.get(f"/admin/webhooks/stripeevent/{theirs.pk}/change/")
    everything = superuser_client.get("/admin/webhooks/stripeevent/")

    assert list(listing.context["cl"].result_list) == [mine]
    assert foreign.status_code == 404
    assert everything.context["cl"].result_count == 2
