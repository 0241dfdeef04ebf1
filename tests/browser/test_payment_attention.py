"""Payments needing attention in a real browser (issue 9): the dashboard
module and the booking page show a mismatched payment, an open dispute and a
debit still processing, at desktop and phone widths without sideways
scrolling. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from bookings.models import Booking, BookingDispute, PaymentReview
from tenants.models import TenantMembership
from tests.browser.conftest import log_in, screenshot
from tests.factories import BookingFactory, MembershipFactory

pytestmark = pytest.mark.django_db(transaction=True)


def no_sideways_scroll(page: Page) -> bool:
    return page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )


def test_staff_see_payments_needing_attention_on_dashboard_and_booking(
    page: Page, tenant, unscoped
):
    reviewed = BookingFactory(tenant=tenant, status=Booking.Status.HELD)
    PaymentReview.objects.create(
        tenant=tenant,
        booking=reviewed,
        reason=PaymentReview.Reason.AMOUNT_MISMATCH,
        stripe_event_id="evt_1Mismatch",
        stripe_checkout_session_id="cs_test_1Mismatch",
        stripe_payment_intent_id="pi_1Mismatch",
        amount_cents=1,
        currency="usd",
        payment_status="paid",
    )
    disputed = BookingFactory(tenant=tenant, stripe_payment_intent_id="pi_1Disputed")
    BookingDispute.objects.create(
        tenant=tenant,
        booking=disputed,
        stripe_dispute_id="du_1Browser",
        stripe_charge_id="ch_1Browser",
        amount_cents=disputed.amount_cents,
        currency="usd",
        reason="fraudulent",
        status="needs_response",
        stripe_event_created=1,
    )
    BookingFactory(tenant=tenant, status=Booking.Status.PAYMENT_PROCESSING)
    staff = MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF).user

    log_in(page, staff)
    attention = page.locator("#dash-attention")
    expect(attention).to_contain_text("1 payment did not match its booking")
    expect(attention).to_contain_text("1 open dispute")
    expect(attention).to_contain_text("Delayed payments still processing")
    desktop = screenshot(page, "dashboard-attention")
    page.set_viewport_size({"width": 390, "height": 844})
    expect(attention).to_be_visible()
    phone_ok = no_sideways_scroll(page)
    phone = screenshot(page, "dashboard-attention-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    attention.locator("li.payment-review a").click()
    page.wait_for_url(re.compile(rf"/admin/bookings/booking/{reviewed.pk}/change/$"))
    expect(page.locator("#content")).to_contain_text("Amount differs from the booking")
    booking_page = screenshot(page, "booking-payment-review")

    assert phone_ok is True
    assert all(shot.stat().st_size > 0 for shot in (desktop, phone, booking_page))
