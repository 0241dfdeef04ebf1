"""The hosted status page /bookings/<uuid>/ (Stripe Checkout's return URL)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.utils import timezone

from bookings.models import Booking
from tests.factories import BookingAddOnFactory, BookingFactory, PackageFactory

pytestmark = pytest.mark.django_db

REFRESH = '<meta http-equiv="refresh"'


def make_booking(tenant, **overrides) -> Booking:
    package = PackageFactory(tenant=tenant, title="Garden party", price_cents=150_000)
    fields = {
        "tenant": tenant,
        "package": package,
        "event_date": dt.date(2030, 6, 1),
        "couple_name": "Ada & Grace",
        "email": "secret-couple@example.com",
        "phone": "+1 555 0142",
        "notes": "Private note",
        "amount_cents": 162_345,
    }
    fields.update(overrides)
    booking = BookingFactory(**fields)
    BookingAddOnFactory(
        tenant=tenant, booking=booking, slug="flowers", title="Flowers", price_cents=12_345
    )
    return booking


def test_page_shows_couple_date_status_lines_and_total(client, tenant, unscoped):
    booking = make_booking(tenant, status=Booking.Status.CONFIRMED)

    response = client.get(f"/bookings/{booking.pk}/")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Cache-Control"] == "no-store"
    html = response.content.decode()
    assert "Ada &amp; Grace" in html
    assert "Saturday 1 June 2030" in html
    assert '<span class="status" id="status">confirmed</span>' in html
    assert '<td>Garden party</td><td class="amount">1,500.00 USD</td>' in html
    assert '<td>Flowers</td><td class="amount">123.45 USD</td>' in html
    assert "<strong>1,623.45 USD</strong>" in html
    assert "Alpha Weddings" in html


def test_confirmed_booking_does_not_refresh(client, tenant, unscoped):
    booking = make_booking(tenant, status=Booking.Status.CONFIRMED)

    html = client.get(f"/bookings/{booking.pk}/").content.decode()

    assert REFRESH not in html


def test_held_booking_refreshes_itself_and_links_to_payment(client, tenant, unscoped):
    booking = make_booking(
        tenant,
        status=Booking.Status.HELD,
        checkout_url="https://checkout.example/pay/cs_test_1",
    )

    html = client.get(f"/bookings/{booking.pk}/").content.decode()

    assert f'{REFRESH} content="5">' in html
    assert '<span class="status" id="status">held</span>' in html
    assert 'href="https://checkout.example/pay/cs_test_1"' in html


def test_lapsed_hold_shows_expired_and_stops_refreshing(client, tenant, unscoped):
    booking = make_booking(
        tenant,
        status=Booking.Status.HELD,
        hold_expires_at=timezone.now() - dt.timedelta(seconds=1),
    )

    html = client.get(f"/bookings/{booking.pk}/").content.decode()

    assert '<span class="status" id="status">expired</span>' in html
    assert REFRESH not in html


@pytest.mark.parametrize("status", [Booking.Status.EXPIRED, Booking.Status.CANCELED])
def test_closed_bookings_do_not_refresh(client, tenant, unscoped, status):
    booking = make_booking(tenant, status=status)

    html = client.get(f"/bookings/{booking.pk}/").content.decode()

    assert f'<span class="status" id="status">{status}</span>' in html
    assert REFRESH not in html


@pytest.mark.parametrize("status", [Booking.Status.HELD, Booking.Status.CONFIRMED])
def test_page_shows_no_email_phone_or_notes(client, tenant, unscoped, status):
    booking = make_booking(tenant, status=status)

    html = client.get(f"/bookings/{booking.pk}/").content.decode()

    assert "secret-couple@example.com" not in html
    assert "555 0142" not in html
    assert "Private note" not in html


def test_unknown_booking_is_404(client, tenant):
    response = client.get(f"/bookings/{uuid.uuid4()}/")

    assert response.status_code == 404


def test_malformed_id_is_404(client, tenant):
    response = client.get("/bookings/not-a-uuid/")

    assert response.status_code == 404


def test_couple_name_is_escaped(client, tenant, unscoped):
    booking = make_booking(
        tenant, status=Booking.Status.CONFIRMED, couple_name="<script>alert(1)</script>"
    )

    html = client.get(f"/bookings/{booking.pk}/").content.decode()

    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_page_works_for_any_tenant_without_a_key(client, tenant, other_tenant, unscoped):
    # The unguessable id is the capability; the page is not tenant-scoped.
    booking = make_booking(other_tenant, status=Booking.Status.CONFIRMED)

    response = client.get(f"/bookings/{booking.pk}/")

    assert response.status_code == 200
    assert "Beta Weddings" in response.content.decode()


def test_hold_end_is_shown_in_the_tenants_time_zone(client, db, unscoped):
    from zoneinfo import ZoneInfo

    from tests.factories import TenantFactory

    kiritimati = TenantFactory(timezone="Pacific/Kiritimati")
    ends = (timezone.now() + dt.timedelta(days=1)).replace(hour=10, minute=30, second=0)
    booking = make_booking(kiritimati, status=Booking.Status.HELD, hold_expires_at=ends)

    html = client.get(f"/bookings/{booking.pk}/").content.decode()

    local = ends.astimezone(ZoneInfo("Pacific/Kiritimati"))
    assert local.strftime("%H:%M") == "00:30"
    assert "held until 00:30 +14 while we wait" in html
