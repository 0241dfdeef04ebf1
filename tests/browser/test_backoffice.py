"""The back office in a real browser (issue 5, item 6): Chromium driven by
Playwright against the live server and the Stripe stand-in.

Waits are on selectors and URLs only. Screenshots of the dashboard and the
calendar go to test-artifacts/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.utils import timezone
from PIL import Image
from playwright.sync_api import Page, expect
from rest_framework.test import APIClient

from bookings.models import Booking
from catalog.models import Package, PackagePhoto
from tenants.models import ApiKey, AuditEntry, TenantMembership
from tests.browser.conftest import log_in, screenshot
from tests.conftest import pay_on_standin, publishable_key_for
from tests.factories import (
    BookingFactory,
    MembershipFactory,
    PackageFactory,
    checkout_body,
    make_catalog,
)

pytestmark = pytest.mark.django_db(transaction=True)


def png_bytes() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (122, 78, 109)).save(buffer, format="PNG")
    return buffer.getvalue()


def event_dates() -> tuple[dt.date, dt.date]:
    """Two future dates in one month (one calendar page) within the next 60
    days (the dashboard's upcoming list): the 20th and 24th of this month
    while they are ahead, else the 5th and 9th of the next."""
    today = timezone.now().date()
    if today.day < 20:
        return today.replace(day=20), today.replace(day=24)
    first = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    return first.replace(day=5), first.replace(day=9)


def checkout(tenant, when: dt.date, couple: str) -> Booking:
    api = APIClient()
    api.credentials(HTTP_X_TENANT_KEY=publishable_key_for(tenant))
    response = api.post(
        "/api/v1/checkout",
        checkout_body(event_date=when.isoformat(), couple_name=couple),
        format="json",
    )
    assert response.status_code == 201
    return Booking.objects.get(pk=response.json()["booking"]["id"])


def test_staff_day_package_calendar_cancel_and_audit(
    page: Page, tenant, other_tenant, stripe_standin, tmp_path, settings, unscoped
):
    # Given: tenant A with a catalog, one paid and one held booking; a staff login.
    settings.MEDIA_ROOT = tmp_path
    make_catalog(tenant)
    confirmed_date, held_date = event_dates()
    confirmed = checkout(tenant, confirmed_date, "Ada & Grace")
    pay_on_standin(stripe_standin, tenant, confirmed)
    held = checkout(tenant, held_date, "Hedy & Alan")
    staff = MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF).user
    photo = tmp_path / "barn.png"
    photo.write_bytes(png_bytes())

    # When: they log in, the dashboard greets them.
    log_in(page, staff)
    expect(page.locator("#user-tools")).to_contain_text(tenant.name)
    expect(page.locator("#content")).to_contain_text("Hedy & Alan")  # the hold
    expect(page.locator("#content")).to_contain_text("Ada & Grace")  # the wedding
    shot_dashboard = screenshot(page, "dashboard")

    # ...they create a package with a photo.
    page.goto("/admin/catalog/package/add/")
    page.fill("#id_title", "Barn elopement")
    page.fill("#id_slug", "barn-elopement")
    page.fill("#id_price_cents", "990")  # dollars
    page.set_input_files("input[name='photos-0-image']", str(photo))
    page.fill("input[name='photos-0-alt']", "The barn at dusk")
    page.click("[name='_save']")
    page.wait_for_url(re.compile(r"/admin/catalog/package/$"))
    expect(page.locator("#result_list")).to_contain_text("Barn elopement")

    # ...they find both bookings on the calendar.
    page.goto(f"/admin/bookings/booking/calendar/?month={confirmed_date:%Y-%m}")
    booked_cell = page.locator(f"td[data-date='{confirmed_date:%Y-%m-%d}']")
    held_cell = page.locator(f"td[data-date='{held_date:%Y-%m-%d}']")
    expect(booked_cell).to_have_attribute("data-state", "booked")
    expect(held_cell).to_have_attribute("data-state", "held")
    shot_calendar = screenshot(page, "calendar")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    expect(held_cell).to_be_visible()
    shot_phone = screenshot(page, "calendar-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    # ...open the confirmed one from its day and cancel it, refunding 100.00.
    booked_cell.locator("a").first.click()  # the second link moves the wedding
    page.wait_for_url(re.compile(rf"/admin/bookings/booking/{confirmed.pk}/change/$"))
    page.locator("#booking-summary").get_by_role("link", name="Cancel booking").click()
    page.check("input[name='refund'][value='partial']")
    page.fill("#id_amount", "100.00")
    page.get_by_role("button", name="Review the refund").click()
    expect(page.locator("#review-refund")).to_have_text("100.00 USD")
    page.get_by_role("button", name=re.compile(r"^Confirm: cancel and refund 100\.00 USD")).click()
    page.wait_for_url(re.compile(rf"/admin/bookings/booking/{confirmed.pk}/change/$"))
    expect(page.locator(".messagelist")).to_contain_text("Booking canceled; the date is free.")

    # ...and see the cancel, by them, in the booking's audit history.
    page.goto(f"/admin/bookings/booking/{confirmed.pk}/history/")
    row = page.locator("#audit-history li.audit-entry", has_text="canceled the booking for")
    expect(row.locator(".audit-sentence")).to_have_text(
        f"{staff.get_username()} canceled the booking for "
        f"{confirmed_date.day} {confirmed_date:%b %Y} and refunded 100.00 USD"
    )
    # The recorded before/after, one click away.
    expect(row.locator("pre")).to_be_hidden()
    row.locator("summary").click()
    expect(row.locator("pre")).to_contain_text('"confirmed",\n    "canceled"')

    # Then: the rows say the same as the pages.
    package = Package.objects.get(tenant=tenant, slug="barn-elopement")
    assert package.price_cents == 99_000  # typed as 990 dollars
    assert list(PackagePhoto.objects.filter(package=package).values_list("alt", flat=True)) == [
        "The barn at dusk"
    ]
    confirmed.refresh_from_db()
    held.refresh_from_db()
    assert (confirmed.status, held.status) == ("canceled", "held")
    entry = AuditEntry.objects.get(action="booking.canceled", object_id=str(confirmed.pk))
    assert (entry.actor_kind, entry.actor_user_id) == ("staff", staff.pk)
    assert Package.objects.filter(tenant=other_tenant).count() == 0
    assert all(shot.stat().st_size > 0 for shot in (shot_dashboard, shot_calendar, shot_phone))


def test_other_tenants_data_never_appears(page: Page, tenant, other_tenant, unscoped):
    # Given: each tenant has a package and a booking; a staff member of A.
    PackageFactory(tenant=tenant, title="Alpha meadow")
    BookingFactory(tenant=tenant, couple_name="Alpha Couple")
    theirs_package = PackageFactory(tenant=other_tenant, title="Beta lighthouse")
    theirs_booking = BookingFactory(tenant=other_tenant, couple_name="Beta Couple")
    staff = MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF).user
    log_in(page, staff)

    # When: they browse their lists and the calendar of B's booking month...
    seen = []
    for url in (
        "/admin/",
        "/admin/catalog/package/",
        "/admin/bookings/booking/",
        f"/admin/bookings/booking/calendar/?month={theirs_booking.event_date:%Y-%m}",
        "/admin/tenants/auditentry/",
    ):
        page.goto(url)
        seen.append(page.locator("#content").inner_text())

    # ...and try B's objects' URLs directly.
    statuses = {
        url: page.goto(url).status
        for url in (
            f"/admin/catalog/package/{theirs_package.pk}/change/",
            f"/admin/catalog/package/{theirs_package.pk}/delete/",
            f"/admin/bookings/booking/{theirs_booking.pk}/change/",
            f"/admin/bookings/booking/{theirs_booking.pk}/cancel/",
            f"/admin/bookings/booking/{theirs_booking.pk}/history/",
            f"/admin/tenants/tenant/{other_tenant.pk}/change/",
        )
    }

    # Then: A's own data shows; B's never does, and its URLs are not found.
    assert "Alpha meadow" in seen[1] and "Alpha Couple" in seen[2]
    assert not [text for text in seen if "Beta" in text]
    assert set(statuses.values()) == {404}


def test_owner_rotates_the_publishable_key_and_the_old_one_stops_working(
    page: Page, live_server, tenant, unscoped
):
    # Given: the tenant's site uses its publishable key; an owner logs in.
    old_key = publishable_key_for(tenant)
    owner = MembershipFactory(tenant=tenant, role=TenantMembership.Role.OWNER).user

    def tenant_api_status(key: str) -> int:
        return page.request.get(
            f"{live_server.url}/api/v1/tenant", headers={"X-Tenant-Key": key}
        ).status

    assert tenant_api_status(old_key) == 200
    log_in(page, owner)

    # When: from the settings page, they rotate it with a one-hour grace.
    page.goto(f"/admin/tenants/tenant/{tenant.pk}/change/")
    page.get_by_role("link", name="API keys").click()
    page.wait_for_url(re.compile(rf"/admin/tenants/tenant/{tenant.pk}/keys/$"))
    page.select_option("#id_kind", "publishable")
    page.fill("#id_grace_hours", "1")
    page.click("#rotate-form input[type=submit]")
    new_key = page.locator("#new-key").input_value()

    # Then: the new key works at once, the old one through the grace period...
    assert new_key.startswith("pk_") and new_key != old_key
    expect(page.locator("#previous-valid-until")).to_contain_text("keeps working until")
    assert (tenant_api_status(new_key), tenant_api_status(old_key)) == (200, 200)

    # ...and not after it (moved into the past instead of waiting an hour).
    ApiKey.objects.filter(tenant=tenant, publishable_key=old_key).update(valid_until=timezone.now())
    assert (tenant_api_status(new_key), tenant_api_status(old_key)) == (200, 401)

    # The key list shows the old key with its end and the new one active.
    page.goto(f"/admin/tenants/tenant/{tenant.pk}/keys/")
    expect(page.locator("#api-keys tbody tr")).to_have_count(2)
    expect(page.locator("#api-keys")).to_contain_text(new_key)


def test_staff_are_refused_owner_pages_in_the_browser(page: Page, tenant, unscoped):
    staff = MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF).user
    log_in(page, staff)

    page.goto(f"/admin/tenants/tenant/{tenant.pk}/change/")
    page.wait_for_selector("#tenant_form")
    keys_links = page.get_by_role("link", name="API keys").count()
    statuses = [
        page.goto(f"/admin/tenants/tenant/{tenant.pk}/keys/").status,
        page.goto("/admin/tenants/tenantmembership/").status,
    ]

    assert keys_links == 0
    assert statuses == [403, 403]
