"""The calendar and the refund confirm step in a real browser (issue 15):
open a booking from its day, black out a free day from the calendar, read
too-soon and too-far days in words, confirm a refund on a page that shows
the refund, Altar's commission returned and what the business keeps; both
pages at 1400 px and at 390 px with no sideways scrolling. Screenshots go
to test-artifacts/ for a person to look at."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect
from rest_framework.test import APIClient

from bookings.models import BlackoutDate, Booking, BookingRefund
from tenants.models import TenantMembership
from tests.browser.conftest import log_in, screenshot
from tests.conftest import pay_on_standin, publishable_key_for, run_outbox
from tests.factories import BookingFactory, MembershipFactory, checkout_body, make_catalog

pytestmark = pytest.mark.django_db(transaction=True)

DESK = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}
CALENDAR = "/admin/bookings/booking/calendar/"


def day_cell(page: Page, day: dt.date):
    return page.locator(f"td[data-date='{day.isoformat()}']")


def open_month(page: Page, day: dt.date) -> None:
    page.goto(f"{CALENDAR}?month={day:%Y-%m}")
    expect(page.locator("#booking-calendar")).to_be_visible()


def test_calendar_opens_bookings_adds_blackouts_and_names_the_booking_window(
    page: Page, tenant, unscoped
):
    # Given: 5 days' notice and a 12-day horizon; a wedding and a hold inside it.
    tenant.min_notice_days, tenant.max_advance_days = 5, 12
    tenant.save()
    today = timezone.localdate()  # the tenant is in UTC
    day = lambda n: today + dt.timedelta(days=n)  # noqa: E731
    booked = BookingFactory(tenant=tenant, event_date=day(6), couple_name="Ada & Grace")
    held = BookingFactory(
        tenant=tenant,
        event_date=day(8),
        couple_name="Hedy & Alan",
        status=Booking.Status.HELD,
        hold_expires_at=timezone.now() + dt.timedelta(minutes=25),
    )
    staff = MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF).user
    log_in(page, staff)
    page.set_viewport_size(DESK)

    # When/then: too soon and too far read as words on their days.
    open_month(page, day(2))
    expect(day_cell(page, day(2)).locator(".state")).to_have_text("Too soon")
    expect(day_cell(page, day(2))).to_have_attribute("data-state", "too_soon")
    open_month(page, day(13))
    expect(day_cell(page, day(13)).locator(".state")).to_have_text("Too far")
    expect(day_cell(page, day(12)).locator(".state")).to_have_text("Free")

    # ...the wedding's and the hold's days open their bookings' summary cards.
    for booking in (booked, held):
        open_month(page, booking.event_date)
        day_cell(page, booking.event_date).get_by_role(
            "link", name=re.compile("open booking$")
        ).click()
        page.wait_for_url(re.compile(rf"/admin/bookings/booking/{booking.pk}/change/$"))
        expect(page.locator("#booking-summary")).to_contain_text(booking.couple_name)

    # ...a free day offers "Add blackout", prefilled, and comes back to its month.
    open_month(page, day(10))
    free = day_cell(page, day(10))
    expect(free.locator(".action")).to_have_text("+ Add blackout")
    free.get_by_role("link", name=re.compile("add blackout$")).click()
    expect(page.locator("#id_date")).to_have_value(day(10).isoformat())
    page.fill("#id_reason", "Family wedding")
    page.click("[name='_save']")
    page.wait_for_url(re.compile(rf"/calendar/\?month={day(10):%Y-%m}$"))
    expect(page.locator(".messagelist")).to_contain_text("is blacked out.")
    expect(day_cell(page, day(10))).to_have_attribute("data-state", "blackout")
    expect(day_cell(page, day(10)).locator(".state")).to_have_text("Blackout: Family wedding")

    # ...and the month reads at a desk and on a phone, without sideways scrolling.
    open_month(page, day(6))
    screenshot(page, "calendar-window-1400")
    page.set_viewport_size(PHONE)
    open_month(page, day(6))
    expect(day_cell(page, day(6))).to_be_visible()
    phone_width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, "calendar-window-390")

    assert phone_width <= PHONE["width"]
    assert list(BlackoutDate.objects.values_list("date", "reason")) == [(day(10), "Family wedding")]


def test_refund_is_confirmed_on_a_page_with_the_three_figures(
    page: Page, tenant, stripe_standin, unscoped
):
    # Given: a paid booking of 1,623.45 USD (commission 10 % = 162.35).
    make_catalog(tenant)
    api = APIClient()
    api.credentials(HTTP_X_TENANT_KEY=publishable_key_for(tenant))
    response = api.post("/api/v1/checkout", checkout_body(), format="json")
    booking = Booking.objects.get(pk=response.json()["booking"]["id"])
    pay_on_standin(stripe_standin, tenant, booking)
    staff = MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF).user
    log_in(page, staff)
    page.set_viewport_size(DESK)

    # When: staff cancel from the booking page, refunding 900.00...
    page.goto(f"/admin/bookings/booking/{booking.pk}/change/")
    page.locator("#booking-summary").get_by_role("link", name="Cancel booking").click()
    expect(page.locator("#cancel-options")).to_be_visible()
    page.set_viewport_size(PHONE)
    choice_phone_width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, "refund-choice-390")
    page.set_viewport_size(DESK)
    screenshot(page, "refund-choice-1400")
    page.check("input[name='refund'][value='partial']")
    page.fill("#id_amount", "900.00")
    page.get_by_role("button", name="Review the refund").click()

    # Then: the confirm page says what moves before anything does.
    # 162.35 * 900 / 1623.45 = 90.0049... -> 90.00; kept 1623.45 - 900 - 72.35.
    expect(page.locator("#review-sentence")).to_have_text(
        "Refund 900.00 USD to the couple. Altar's commission returned: 90.00 USD. "
        "You keep: 651.10 USD after commission."
    )
    booking.refresh_from_db()
    assert (booking.status, BookingRefund.objects.count()) == ("confirmed", 0)
    screenshot(page, "refund-confirm-1400")
    page.set_viewport_size(PHONE)
    expect(page.locator("#review-sentence")).to_be_visible()
    phone_width = page.evaluate("document.documentElement.scrollWidth")
    screenshot(page, "refund-confirm-390")
    page.set_viewport_size(DESK)

    # When: they confirm, and the refund reaches Stripe.
    page.get_by_role("button", name="Confirm: cancel and refund 900.00 USD").click()
    page.wait_for_url(re.compile(rf"/admin/bookings/booking/{booking.pk}/change/$"))
    expect(page.locator(".messagelist")).to_contain_text("Booking canceled; the date is free.")
    run_outbox()
    page.reload()

    # Then: refunded exactly as the confirm page said.
    expect(page.locator("#booking-summary")).to_contain_text("refunded 900.00 USD")
    booking.refresh_from_db()
    assert (choice_phone_width, phone_width) == (PHONE["width"], PHONE["width"])
    assert (
        booking.status,
        booking.refunded_cents,
        booking.commission_refunded_cents,
        booking.paid_cents
        - booking.refunded_cents
        - (booking.commission_cents - booking.commission_refunded_cents),
    ) == ("canceled", 90_000, 9_000, 65_110)
    refunds = [r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/refunds"]
    assert len(refunds) == 1
