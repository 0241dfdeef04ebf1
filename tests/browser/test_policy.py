"""Issue 14 in a real browser: the booking page with terms, questions and
the cancellation policy; the couple cancels and moves from "manage my
booking"; staff move a wedding from the calendar. Axe (no serious or
critical violation), no sideways scroll, screenshots at 1280 and 390 px."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from bookings.agreements import policy_save, terms_publish
from bookings.manage_links import manage_path
from bookings.models import Booking, BookingPolicy, BookingQuestion, BookingRefund
from tenants.scoping import tenant_scope
from tests.browser.conftest import (
    DESKTOP,
    PHONE,
    log_in,
    screenshot,
    serious_violations,
    show_month,
)
from tests.conftest import checkout_through_service, pay_on_standin, run_outbox
from tests.factories import days_ahead, make_catalog

pytestmark = pytest.mark.django_db(transaction=True)

TIERS = [{"days_before": 180, "refund_percent": 100}, {"days_before": 60, "refund_percent": 50}]


@pytest.fixture
def studio(tenant, settings, live_server, stripe_standin, unscoped):
    """A tenant with terms, two questions and a policy letting couples
    cancel and move; one paid booking 100 days ahead."""
    settings.PUBLIC_BASE_URL = live_server.url
    make_catalog(tenant)
    with tenant_scope(tenant):
        terms_publish(tenant=tenant, text="1. Be on time.\n\n2. Bring your rings.")
        policy_save(
            tenant=tenant,
            policy=BookingPolicy(
                cancellation_tiers=TIERS,
                self_cancel_allowed=True,
                date_change_allowed=True,
                date_change_min_days=30,
                date_change_max_count=1,
            ),
        )
        BookingQuestion.objects.create(
            tenant=tenant, key="venue", label="Ceremony location", required=True
        )
        BookingQuestion.objects.create(
            tenant=tenant,
            key="officiant",
            label="Officiant needed?",
            kind="choice",
            choices="Yes\nNo",
            position=1,
        )
        booking = checkout_through_service(
            tenant, days=100, accept_terms_version=1, answers={"venue": "The old barn"}
        )
        pay_on_standin(stripe_standin, tenant, booking)
    run_outbox()
    mail.outbox.clear()
    booking.refresh_from_db()
    return {"tenant": tenant, "booking": booking}


def check_page(page: Page, name: str) -> None:
    """Axe and no sideways scroll at both sizes, with a screenshot each."""
    for size_name, size in (("1280", DESKTOP), ("390", PHONE)):
        page.set_viewport_size(size)
        assert serious_violations(page) == [], f"{name} at {size_name}"
        assert page.evaluate(
            "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
        ), f"{name} scrolls sideways at {size_name}px"
        screenshot(page, f"policy-{name}-{size_name}")
    page.set_viewport_size(DESKTOP)


def test_booking_page_asks_questions_shows_the_policy_and_needs_the_terms(
    page: Page, studio, stripe_standin
):
    tenant = studio["tenant"]
    page.goto(f"/book/{tenant.slug}/")

    expect(page.locator("#policy-lines")).to_contain_text(
        "Cancel at least 180 days before the wedding for a refund of 100 % of what you paid."
    )
    # The terms are one click away.
    expect(page.get_by_text("Be on time.")).to_be_hidden()
    page.get_by_text("Read the terms of Alpha Weddings (version 1)").click()
    expect(page.get_by_text("Be on time.")).to_be_visible()
    check_page(page, "book")

    day = days_ahead(60)  # the calendar pages at most three months ahead
    show_month(page, day.replace(day=1))
    page.locator(f".day[data-date='{day.isoformat()}']").click()
    page.get_by_label("Your names").fill("Bea & Cleo")
    page.get_by_label("E-mail").fill("bea@example.com")
    page.get_by_label("Ceremony location").fill("Lighthouse")
    page.get_by_label("Officiant needed? (optional)").select_option("Yes")
    page.get_by_role("button", name="Continue to payment").click()
    expect(page.locator("#err-accept_terms")).to_contain_text(
        "Please read and accept the terms to book."
    )
    assert Booking.objects.filter(email="bea@example.com").count() == 0

    page.get_by_label("I have read and accept the terms.").check()
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(re.compile(r"/pay/cs_"))
    booking = Booking.objects.get(email="bea@example.com")
    assert booking.terms_version.version == 1
    assert booking.answers == {"venue": "Lighthouse", "officiant": "Yes"}
    assert booking.cancellation_policy == TIERS


def test_couple_cancels_from_manage_my_booking(page: Page, studio, stripe_standin):
    booking = studio["booking"]
    page.goto(manage_path(booking.pk))

    expect(page.locator("#accepted-terms")).to_contain_text("You accepted the terms (version 1)")
    expect(page.locator("#policy-lines")).to_contain_text("for a refund of 50 % of what you paid.")
    check_page(page, "manage")
    page.get_by_role("link", name="Cancel this booking…").click()

    expect(page.locator("#refund-today")).to_have_text("$750.00")
    check_page(page, "manage-cancel")
    page.get_by_role("button", name="Yes, cancel and refund $750.00").click()

    expect(page.locator("#canceled-notice")).to_be_visible()
    expect(page.locator(".badge")).to_have_text("Canceled")
    check_page(page, "manage-canceled")
    run_outbox()
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason, booking.refunded_cents) == (
        "canceled",
        "couple",
        75_000,
    )
    assert BookingRefund.objects.filter(booking=booking).count() == 1


def test_couple_moves_from_manage_my_booking(page: Page, studio, stripe_standin):
    booking = studio["booking"]
    new = days_ahead(130)
    page.goto(manage_path(booking.pk))

    expect(page.locator("#hint-move")).to_have_text("Moving is free; your payments carry over.")
    page.get_by_label("New date").fill(new.isoformat())
    page.get_by_role("button", name="Move my wedding").click()

    expect(page.locator("#moved-notice")).to_contain_text(f"{new:%A, %-d %B %Y}")
    # One change allowed: the form is gone now.
    expect(page.locator("#move-form")).to_have_count(0)
    check_page(page, "manage-moved")
    booking.refresh_from_db()
    assert (booking.event_date, booking.paid_cents, booking.ics_sequence) == (new, 150_000, 1)


def test_staff_move_a_wedding_from_the_calendar(page: Page, studio, staff_user, stripe_standin):
    booking = studio["booking"]
    new = days_ahead(140)
    log_in(page, staff_user)
    page.goto(f"/admin/bookings/booking/calendar/?month={booking.event_date:%Y-%m}")

    page.locator(f"td[data-date='{booking.event_date.isoformat()}'] .move-link").click()
    expect(page.get_by_label("New date")).to_be_visible()  # the move page
    page.get_by_label("New date").fill(new.isoformat())
    page.get_by_role("button", name="Review the move").click()
    expect(page.locator("#move-review")).to_contain_text(f"to {new:%A %-d %B %Y}?")
    check_page(page, "admin-move-review")
    page.get_by_role("button", name=f"Confirm: move to {new:%Y-%m-%d}").click()

    expect(page.locator(".messagelist")).to_contain_text(
        f"Moved from {booking.event_date} to {new}"
    )
    booking.refresh_from_db()
    assert booking.event_date == new
    page.goto(f"/admin/bookings/booking/calendar/?month={new:%Y-%m}")
    expect(page.locator(f"td[data-date='{new.isoformat()}']")).to_contain_text("Booked")
    check_page(page, "admin-calendar-after-move")
