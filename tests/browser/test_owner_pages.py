"""The pages an owner used to HoneyBook checks first, in a real browser
(issue 15's rough edges): the settings page (lists for currency and time
zone, labels in people's words), the cancel page when part of the money
came by bank transfer, and the calendar in dark mode. Each at 1400 px and
390 px with no sideways scrolling; screenshots in test-artifacts/ for a
person to look at."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Page, expect

from bookings.models import Booking, BookingPayment
from tenants.models import Tenant, TenantMembership
from tests.browser.conftest import log_in, screenshot
from tests.factories import BookingFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)

DESK = {"width": 1400, "height": 900}
PHONE = {"width": 390, "height": 844}


def no_sideways_scroll(page: Page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def header_trail(page: Page) -> list[str]:
    return [text.strip() for text in page.locator("#header-inner h1 .truncate").all_inner_texts()]


def owner(tenant):
    return MembershipFactory(tenant=tenant, role=TenantMembership.Role.OWNER).user


def test_owner_sets_currency_and_time_zone_from_lists(page: Page, tenant, unscoped):
    log_in(page, owner(tenant))
    page.set_viewport_size(DESK)
    page.goto(f"/admin/tenants/tenant/{tenant.pk}/change/")

    # The labels are the owner's words, the two lists show names.
    labels = [text.strip() for text in page.locator("#content label").all_inner_texts()]
    for label in (
        "Business name",
        "Booking page address",
        "Currency",
        "Time zone",
        "How couples pay",
    ):
        assert any(text.startswith(label) for text in labels), label
    assert not any(text.startswith(("Slug", "Plan kind", "Timezone")) for text in labels)
    expect(page.locator("#id_currency option:checked")).to_have_text("USD — US Dollar")
    expect(page.locator("#id_timezone option:checked")).to_have_text(
        "UTC (pick the zone of your city)"
    )
    desk_shot = screenshot(page, "settings-1400")
    page.set_viewport_size(PHONE)
    phone_ok = no_sideways_scroll(page)
    phone_shot = screenshot(page, "settings-390")
    page.set_viewport_size(DESK)

    page.select_option("#id_currency", "eur")
    page.select_option("#id_timezone", "America/Denver")
    page.locator("button[name=_save], input[name=_save]").first.click()
    page.goto(f"/admin/tenants/tenant/{tenant.pk}/change/")

    expect(page.locator("#id_currency option:checked")).to_have_text("EUR — Euro")
    expect(page.locator("#id_timezone option:checked")).to_have_text("America/Denver")
    assert Tenant.objects.values_list("currency", "timezone").get(pk=tenant.pk) == (
        "eur",
        "America/Denver",
    )
    assert phone_ok is True
    assert all(shot.stat().st_size > 0 for shot in (desk_shot, phone_shot))


def test_cancel_page_says_what_was_paid_outside_stripe(page: Page, tenant, unscoped):
    # 1,800.00 USD: 1,000.00 through Stripe, 800.00 by bank transfer.
    booking = BookingFactory(
        tenant=tenant,
        couple_name="Ada & Grace",
        event_date=dt.date(2031, 12, 13),
        amount_cents=180_000,
        commission_cents=18_000,
        paid_cents=100_000,
        stripe_payment_intent_id="pi_part",
    )
    BookingPayment.objects.filter(booking=booking).update(application_fee_cents=10_000)
    BookingPayment.objects.create(
        tenant=tenant,
        booking=booking,
        kind=BookingPayment.Kind.OFFLINE,
        status=BookingPayment.Status.SUCCEEDED,
        amount_cents=80_000,
        application_fee_cents=8_000,
        note="bank transfer",
    )
    Booking.objects.filter(pk=booking.pk).update(paid_cents=180_000)
    log_in(page, owner(tenant))
    page.set_viewport_size(DESK)

    page.goto(f"/admin/bookings/booking/{booking.pk}/cancel/")

    assert header_trail(page) == ["Bookings", "13 Dec 2031 · Ada & Grace", "Cancel booking"]
    expect(page).to_have_title("Cancel booking — 13 Dec 2031 · Ada & Grace | Altar")
    expect(page.locator("#full-refund-note")).to_have_text(
        "800.00 USD was paid outside Stripe (bank transfer/cash) and is not refunded from here."
    )
    expect(page.locator("#cancel-options tbody tr").first).to_contain_text("1,000.00 USD")
    desk_shot = screenshot(page, "cancel-offline-1400")
    page.set_viewport_size(PHONE)
    expect(page.locator("#full-refund-note")).to_be_visible()
    phone_ok = no_sideways_scroll(page)
    phone_shot = screenshot(page, "cancel-offline-390")

    assert phone_ok is True
    assert all(shot.stat().st_size > 0 for shot in (desk_shot, phone_shot))


def test_calendar_reads_in_dark_mode(page: Page, tenant, unscoped):
    tenant.min_notice_days, tenant.max_advance_days = 3, 20
    tenant.save()
    today = timezone.localdate()
    booked = BookingFactory(tenant=tenant, event_date=today + dt.timedelta(days=6))
    held = BookingFactory(
        tenant=tenant,
        event_date=today + dt.timedelta(days=8),
        couple_name="Hedy & Alan",
        status=Booking.Status.HELD,
        hold_expires_at=timezone.now() + dt.timedelta(minutes=25),
    )
    log_in(page, owner(tenant))
    page.emulate_media(color_scheme="dark")
    page.set_viewport_size(DESK)

    page.goto(f"/admin/bookings/booking/calendar/?month={booked.event_date:%Y-%m}")
    expect(page.locator("html")).to_have_class(re.compile(r"\bdark\b"))
    cell = page.locator(f"td[data-date='{booked.event_date.isoformat()}']")
    fills = {
        state: page.locator(f"#booking-calendar td.{state}").first.evaluate(
            "el => getComputedStyle(el).backgroundColor"
        )
        for state in ("booked", "held")
    }
    contrast = Axe().run(page, context="#booking-calendar", options={"runOnly": ["color-contrast"]})
    desk_shot = screenshot(page, "calendar-dark-1400")
    page.set_viewport_size(PHONE)
    phone_ok = no_sideways_scroll(page)
    phone_contrast = Axe().run(
        page, context="#booking-calendar", options={"runOnly": ["color-contrast"]}
    )
    phone_shot = screenshot(page, "calendar-dark-390")

    assert header_trail(page) == ["Calendar"]
    expect(cell.locator(".state")).to_contain_text("Booked")
    expect(page.locator(f"td[data-date='{held.event_date.isoformat()}'] .state")).to_contain_text(
        "Held"
    )
    # Dark fills (unfold's green-950 and orange-950), not the light ones.
    assert fills == {
        "booked": "oklch(0.266 0.065 152.934)",
        "held": "oklch(0.266 0.079 36.259)",
    }
    assert contrast.response["violations"] == []
    assert phone_contrast.response["violations"] == []
    assert phone_ok is True
    assert all(shot.stat().st_size > 0 for shot in (desk_shot, phone_shot))
