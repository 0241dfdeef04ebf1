"""Every kind of page under the Content-Security-Policy (issue 10, items 8
and 9), in Chromium: each renders and its scripts and styles work, and the
browser reports no CSP violation (no inline script or style ran without
the nonce, nothing loaded from elsewhere). Screenshots of the API docs and
the branded status page, at 1280 and 390 px, go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, Response, expect

from tenants.branding import FontStack
from tenants.models import TenantMembership
from tenants.services import tenant_update
from tests.browser.conftest import CspWatch, log_in, screenshot
from tests.factories import BookingFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def _directives(response: Response) -> dict[str, str]:
    policy = response.headers["content-security-policy"]
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def assert_strict_policy(response: Response) -> None:
    directives = _directives(response)
    assert directives["script-src"].startswith("'self'")
    assert directives["style-src"].startswith("'self'")
    policy = response.headers["content-security-policy"]
    assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy
    assert directives["frame-ancestors"] == "'none'"


def assert_staff_policy(response: Response) -> None:
    """Staff pages: the strict policy plus 'unsafe-eval' in script-src alone,
    for unfold's Alpine.js (backoffice/middleware.py); still no inline code."""
    directives = _directives(response)
    assert re.fullmatch(r"'self' 'nonce-[^']+' 'unsafe-eval'", directives["script-src"])
    assert re.fullmatch(r"'self' 'nonce-[^']+'", directives["style-src"])
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]
    assert directives["frame-ancestors"] == "'none'"


def computed(page: Page, selector: str, prop: str) -> str:
    return page.eval_on_selector(selector, f"e => getComputedStyle(e).{prop}")


def test_admin_pages_work_under_the_policy(page: Page, csp: CspWatch, tenant, unscoped):
    booking = BookingFactory(tenant=tenant, couple_name="Ada & Grace")
    staff = MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF).user

    # The login page...
    assert_staff_policy(page.goto("/admin/login/"))
    expect(page.locator("#id_username")).to_be_visible()
    assert csp.violations() == []

    # ...the dashboard, with its stylesheet applied...
    log_in(page, staff)
    expect(page.locator("#altar-dashboard")).to_be_visible()
    assert computed(page, "#altar-dashboard .altar-links", "display") == "flex"
    assert csp.violations() == []

    # ...a changelist whose action script runs (select all → counter)...
    assert_staff_policy(page.goto("/admin/bookings/booking/"))
    page.click("#action-toggle")
    expect(page.locator(".action-counter")).to_have_text("1 of 1 selected")
    assert csp.violations() == []

    # ...a changelist without actions (Django's inline <style>, with nonce)...
    page.goto("/admin/tenants/auditentry/")
    expect(page.locator("#changelist")).to_be_visible()
    assert csp.violations() == []

    # ...the calendar, styled from its stylesheet...
    page.goto(f"/admin/bookings/booking/calendar/?month={booking.event_date:%Y-%m}")
    cell = f"td[data-date='{booking.event_date:%Y-%m-%d}']"
    expect(page.locator(cell)).to_have_attribute("data-state", "booked")
    # unfold's green-100 (backoffice/static/backoffice/calendar.css, light mode)
    assert computed(page, cell, "backgroundColor") == "oklch(0.962 0.044 156.743)"
    assert csp.violations() == []

    # ...and a form with unfold's date widget.
    page.goto("/admin/bookings/blackoutdate/add/")
    page.fill("#id_date", "2031-05-17")
    assert page.input_value("#id_date") == "2031-05-17"
    assert csp.violations() == []


def test_public_pages_and_error_pages_carry_the_policy(page: Page, csp: CspWatch):
    reset = page.goto("/accounts/password_reset/")
    expect(page.locator("#id_email")).to_be_visible()
    missing = page.goto("/no-such-page/")

    assert_staff_policy(reset)
    assert missing.status == 404
    assert_strict_policy(missing)
    assert csp.violations() == []


def test_api_docs_render_every_operation_from_our_own_files(page: Page, csp: CspWatch, live_server):
    schema = page.request.get(f"{live_server.url}/api/schema/?format=json").json()
    methods = {"get", "post", "put", "patch", "delete"}
    expected = sum(len(methods & set(item)) for item in schema["paths"].values())
    requested = []
    page.on("request", lambda request: requested.append(request.url))

    response = page.goto("/api/docs/")
    expect(page.locator(".opblock")).to_have_count(expected)
    # Try an operation from the page: Swagger UI calls the API (connect-src).
    tenant_operation = page.locator(".opblock", has_text="/api/v1/tenant")
    tenant_operation.locator(".opblock-summary").click()
    tenant_operation.get_by_role("button", name="Try it out").click()
    tenant_operation.get_by_role("button", name="Execute").click()
    # No key typed in: the API's own answer, 401, shown on the page.
    expect(
        tenant_operation.locator(".live-responses-table tbody .response-col_status")
    ).to_have_text(re.compile(r"^401\b"))
    tenant_operation.locator(".opblock-summary").click()
    shot = screenshot(page, "api-docs")
    page.set_viewport_size(PHONE)
    expect(page.locator(".opblock").first).to_be_visible()
    shot_phone = screenshot(page, "api-docs-phone")
    page.set_viewport_size(DESKTOP)

    assert_strict_policy(response)
    assert csp.violations() == []
    assert [url for url in requested if not url.startswith(live_server.url)] == []
    assert shot.stat().st_size > 0 and shot_phone.stat().st_size > 0


def test_status_page_shows_the_tenants_branding(page: Page, csp: CspWatch, tenant, unscoped):
    tenant_update(
        tenant=tenant,
        primary_color="#3F5E4A",
        secondary_color="#F3EEE4",
        font_family=FontStack.DIDONE,
    )
    booking = BookingFactory(tenant=tenant, couple_name="Ada & Grace")

    response = page.goto(f"/bookings/{booking.pk}/")
    expect(page.locator("h1")).to_have_text("Your date is booked!")
    font = computed(page, "body", "fontFamily")
    header = computed(page, "header.brand", "backgroundColor")
    shot = screenshot(page, "status-page")
    page.set_viewport_size(PHONE)
    no_sideways_scroll = page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    shot_phone = screenshot(page, "status-page-phone")

    assert_strict_policy(response)
    assert font == FontStack.DIDONE.value
    assert header == "rgb(63, 94, 74)"
    assert no_sideways_scroll
    assert csp.violations() == []
    assert shot.stat().st_size > 0 and shot_phone.stat().st_size > 0
