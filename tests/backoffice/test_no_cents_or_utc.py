"""No page of the admin shows tenant staff a `cents` value or a UTC time
(issue 15): every page a staff member or owner can reach — the dashboard,
each model's list, add and change pages with real rows, the booking's
summary and action pages, the calendar, the feed, the settings — is read
in full, and neither "cents" (in any case, anywhere in the HTML: labels,
help texts, columns, filters, attributes) nor "UTC" may appear."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib import admin
from django.test import Client
from django.utils import timezone

from bookings.models import (
    Booking,
    BookingDateChange,
    BookingDispute,
    BookingPolicy,
    BookingQuestion,
    BookingRefund,
    CancellationRequest,
    PaymentReview,
    TermsVersion,
)
from bookings.services import blackout_date_set, booking_cancel
from catalog.services import package_update
from tenants.audit import actor_context
from tenants.models import Tenant
from tests.factories import (
    BlackoutDateFactory,
    BookingAddOnFactory,
    BookingFactory,
    MembershipFactory,
    make_catalog,
)

pytestmark = pytest.mark.django_db

# What each role reaches from the sidebar (the model lists), checked exactly:
# a new model list is read by this test as soon as it is registered.
LISTS = {
    "staff": [
        "/admin/bookings/blackoutdate/",
        "/admin/bookings/booking/",
        "/admin/bookings/bookingdispute/",
        "/admin/bookings/bookingpolicy/",
        "/admin/bookings/bookingquestion/",
        "/admin/bookings/cancellationrequest/",
        "/admin/bookings/paymentreview/",
        "/admin/bookings/termsversion/",
        "/admin/catalog/addon/",
        "/admin/catalog/package/",
        "/admin/tenants/auditentry/",
        "/admin/tenants/tenant/",
        "/admin/webhooks/stripeevent/",
    ],
}
LISTS["owner"] = sorted([*LISTS["staff"], "/admin/tenants/tenantmembership/"])


@pytest.fixture
def business(tenant, unscoped):
    """A business in Denver with one of everything staff look at."""
    Tenant.objects.filter(pk=tenant.pk).update(timezone="America/Denver", commission_bps=1250)
    tenant.refresh_from_db()
    catalog = make_catalog(tenant)
    terms = TermsVersion.objects.create(tenant=tenant, version=1, text="Be kind.")
    BookingQuestion.objects.create(tenant=tenant, key="guests", label="Guests", kind="number")
    BookingPolicy.objects.create(
        tenant=tenant,
        cancellation_tiers=[{"days_before": 90, "refund_percent": 50}],
        date_change_allowed=True,
        date_change_fee_cents=5_000,
    )
    booking = BookingFactory(
        tenant=tenant,
        package=catalog.package,
        couple_name="Ada & Grace",
        amount_cents=162_345,
        stripe_payment_intent_id="pi_words_1",
        stripe_checkout_session_id="cs_words_1",
        terms_version=terms,
        terms_accepted_at=timezone.now(),
        terms_accepted_name="Ada",
        answers={"guests": 12},
        balance_due_on=timezone.localdate() + dt.timedelta(days=30),
    )
    BookingAddOnFactory(booking=booking, add_on=catalog.flowers)
    payment = booking.payments.get()
    BookingRefund.objects.create(
        tenant=tenant,
        booking=booking,
        payment=payment,
        stripe_refund_id="re_words_1",
        amount_cents=10_000,
        status=BookingRefund.Status.SUCCEEDED,
        reason=BookingRefund.Reason.STRIPE_DASHBOARD,
    )
    PaymentReview.objects.create(
        tenant=tenant,
        booking=booking,
        reason=PaymentReview.Reason.AMOUNT_MISMATCH,
        stripe_event_id="evt_words_1",
        stripe_checkout_session_id="cs_words_1",
        amount_cents=150_000,
        currency="usd",
    )
    BookingDispute.objects.create(
        tenant=tenant,
        booking=booking,
        stripe_dispute_id="dp_words_1",
        amount_cents=162_345,
        currency="usd",
        reason="fraudulent",
        status="needs_response",
        stripe_event_created=1_900_000_000,
    )
    BookingDateChange.objects.create(
        tenant=tenant,
        booking=booking,
        from_date=booking.event_date - dt.timedelta(days=7),
        to_date=booking.event_date,
        by="staff",
        amount_before_cents=162_345,
        amount_after_cents=162_345,
        price_difference_cents=0,
    )
    CancellationRequest.objects.create(tenant=tenant, booking=booking, message="Sorry.")
    held = BookingFactory(tenant=tenant, package=catalog.package, status=Booking.Status.HELD)
    BlackoutDateFactory(tenant=tenant, reason="Family wedding")
    with actor_context("staff", "maria@example.com"):
        package_update(tenant=tenant, slug="elopement", price_cents=180_000)
        blackout_date_set(tenant=tenant, date=timezone.localdate() + dt.timedelta(days=50))
        to_cancel = BookingFactory(
            tenant=tenant, package=catalog.package, stripe_payment_intent_id="pi_words_2"
        )
        booking_cancel(tenant=tenant, booking_id=to_cancel.pk, refund_cents=50_000)
    return {"booking": booking, "held": held}


# Money fields keep their model names on the forms (`price_cents` is also
# the API's and the catalog file's name), so those reach the HTML inside
# attributes nobody reads: a field's name, id, label target, help-text link
# and unfold's `field-<name>` class. Only these are taken out before reading.
MACHINE_ATTRIBUTES = re.compile(r'\s(?:name|id|for|aria-describedby)="[^"]*"|\bfield-[\w-]+')


def problems(url: str, html: str) -> list[str]:
    html = MACHINE_ATTRIBUTES.sub("", html)
    found = []
    for word in re.findall(r".{0,40}cents.{0,40}", html, flags=re.IGNORECASE):
        found.append(f"{url}: cents in …{word}…")
    for word in re.findall(r".{0,40}UTC.{0,40}", html):
        found.append(f"{url}: UTC in …{word}…")
    return found


@pytest.mark.parametrize("role", ["staff", "owner"])
def test_no_admin_page_shows_staff_cents_or_utc(role, business, tenant):
    client = Client()
    client.force_login(MembershipFactory(tenant=tenant, role=role).user)
    booking, held = business["booking"], business["held"]
    pages = [
        "/admin/",
        f"/admin/bookings/booking/calendar/?month={booking.event_date:%Y-%m}",
        "/admin/calendar-feed/",
        f"/admin/bookings/booking/{booking.pk}/change/",
        f"/admin/bookings/booking/{booking.pk}/history/",
        f"/admin/bookings/booking/{booking.pk}/cancel/",
        f"/admin/bookings/booking/{booking.pk}/move/",
        f"/admin/bookings/booking/{booking.pk}/offline-payment/",
        f"/admin/bookings/booking/{booking.pk}/balance-link/",
        f"/admin/bookings/booking/{booking.pk}/resend-confirmation/",
        f"/admin/bookings/booking/{held.pk}/release/",
        f"/admin/tenants/tenant/{tenant.pk}/change/",
        f"/admin/tenants/tenant/{tenant.pk}/history/",
    ]
    lists = []
    for model_admin in admin.site._registry.values():
        opts = model_admin.model._meta
        url = f"/admin/{opts.app_label}/{opts.model_name}/"
        page = client.get(url)
        if page.status_code != 200:
            continue
        lists.append(url)
        pages += [url, f"{url}?all=", f"{url}add/"]
        for row in page.context["cl"].result_list[:3]:
            pages += [f"{url}{row.pk}/change/", f"{url}{row.pk}/history/"]

    found, statuses = [], {}
    for url in pages:
        response = client.get(url, follow=True)
        statuses[url] = response.status_code
        found += problems(url, response.content.decode())

    assert sorted(lists) == LISTS[role]
    assert [url for url, status in statuses.items() if status not in (200, 403)] == []
    assert found == []
