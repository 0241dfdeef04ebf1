"""The back office at a desk and on a phone (issue 15): each everyday page
at 1400 px and at 390 px with no sideways scrolling, no CSP violation, and
a screenshot of each in test-artifacts/ for a person to look at."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from bookings.services import booking_contact_update
from tenants.audit import actor_context
from tenants.models import TenantMembership
from tests.browser.conftest import log_in, screenshot
from tests.factories import BookingFactory, MembershipFactory, make_catalog

pytestmark = pytest.mark.django_db(transaction=True)

DESK = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


def test_everyday_pages_fit_a_desk_and_a_phone(page: Page, tenant, unscoped):
    package = make_catalog(tenant).package
    today = timezone.localdate()
    booking = BookingFactory(
        tenant=tenant,
        couple_name="Ada Lovelace & Grace Hopper",
        email="ada.and.grace@example.com",
        event_date=today + dt.timedelta(days=12),
        amount_cents=180_000,
        package=package,
    )
    BookingFactory(
        tenant=tenant,
        couple_name="Hedy & Alan",
        status="held",
        event_date=today + dt.timedelta(days=20),
        hold_expires_at=timezone.now() + dt.timedelta(minutes=25),
    )
    owner = MembershipFactory(
        tenant=tenant, role=TenantMembership.Role.OWNER, user__first_name="Maria"
    ).user
    # A history for the booking's card: changes as the services record them.
    with actor_context("staff", owner.get_username(), user=owner):
        booking_contact_update(tenant=tenant, booking_id=booking.pk, phone="+1 555 0100")
        booking_contact_update(
            tenant=tenant, booking_id=booking.pk, notes="Sunset ceremony by the lake, please."
        )
    log_in(page, owner)
    pages = {
        "dashboard": "/admin/",
        "bookings-list": "/admin/bookings/booking/",
        "booking-page": f"/admin/bookings/booking/{booking.pk}/change/",
        "calendar": f"/admin/bookings/booking/calendar/?month={booking.event_date:%Y-%m}",
        "package-edit": f"/admin/catalog/package/{package.pk}/change/",
        "settings": f"/admin/tenants/tenant/{tenant.pk}/change/",
        "history": f"/admin/bookings/booking/{booking.pk}/history/",
        "audit-log": "/admin/tenants/auditentry/",
    }

    widths = {}
    for name, url in pages.items():
        page.set_viewport_size(DESK)
        page.goto(url)
        expect(page.locator("#content")).to_be_visible()
        screenshot(page, f"bo-{name}-1400")
        page.set_viewport_size(PHONE)
        page.goto(url)
        expect(page.locator("#content")).to_be_visible()
        widths[name] = page.evaluate("document.documentElement.scrollWidth")
        screenshot(page, f"bo-{name}-390")

    assert widths == {name: 390 for name in pages}
