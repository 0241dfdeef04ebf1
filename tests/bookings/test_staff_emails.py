"""Staff e-mails write dates and money as the admin does (issue 15): the
locale's one date format ("4 May 2030", config/formats) in subjects and
bodies, amounts as "1,623.45 USD", and a link straight to the booking; the
couple's e-mails keep their own words (a long date in their language)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from bookings.models import BookingDateChange
from bookings.notifications import send_booking_canceled, send_booking_confirmed, send_date_changed
from tests.factories import BookingFactory, MembershipFactory

pytestmark = pytest.mark.django_db

LINK = "https://altar.example/admin/bookings/booking/{}/change/"


@pytest.fixture
def booking(tenant, settings, unscoped):
    settings.PUBLIC_BASE_URL = "https://altar.example"
    MembershipFactory(tenant=tenant, role="owner", user__email="owner@alpha.example")
    return BookingFactory(
        tenant=tenant,
        couple_name="Ada & Grace",
        event_date=dt.date(2030, 5, 4),
        amount_cents=162_345,
    )


def test_new_booking_mail_to_staff(booking):
    send_booking_confirmed(tenant_id=booking.tenant_id, booking_id=booking.pk)

    couple, staff = mail.outbox
    assert couple.subject == "Your wedding date is confirmed: Saturday, 4 May 2030"
    assert staff.subject == "New confirmed booking: 4 May 2030"
    assert staff.to == ["owner@alpha.example"]
    assert staff.body == (
        "A booking was paid and confirmed.\n\n"
        "Date:     4 May 2030\n"
        "Couple:   Ada & Grace\n"
        f"Package:  {booking.package.title}\n"
        "Total:    1,623.45 USD\n"
        f"Booking:  {booking.pk}\n\n"
        f"Open it in Altar: {LINK.format(booking.pk)}\n\n"
    )


def test_canceled_booking_mail_to_staff(booking):
    booking.status, booking.cancel_reason = "canceled", "staff"
    booking.save(update_fields=["status", "cancel_reason"])

    send_booking_canceled(tenant_id=booking.tenant_id, booking_id=booking.pk)

    couple, staff = mail.outbox
    assert couple.subject == "Your booking for Saturday, 4 May 2030 was canceled"
    assert staff.subject == "Booking canceled: 4 May 2030"
    assert staff.body == (
        "A booking was canceled.\n\n"
        "Date:     4 May 2030\n"
        "Couple:   Ada & Grace\n"
        "Reason:   staff\n"
        "Refunded: 0.00 USD\n"
        "Refund decided (incl. on its way): 0.00 USD\n"
        f"Booking:  {booking.pk}\n\n"
        f"Open it in Altar: {LINK.format(booking.pk)}\n\n"
    )


def test_moved_booking_mail_to_staff(booking):
    booking.event_date = dt.date(2030, 6, 1)
    booking.save(update_fields=["event_date"])
    change = BookingDateChange.objects.create(
        tenant=booking.tenant,
        booking=booking,
        from_date=dt.date(2030, 5, 4),
        to_date=dt.date(2030, 6, 1),
        by="staff",
        amount_before_cents=162_345,
        amount_after_cents=180_000,
        price_difference_cents=17_655,
        fee_cents=5_000,
        due_cents=22_655,
        payment="due",
    )

    assert send_date_changed(tenant_id=booking.tenant_id, change_id=change.pk) == "sent"

    couple, staff = mail.outbox
    assert couple.subject == "Your wedding date has moved to Saturday, 1 June 2030"
    assert staff.subject == "Booking moved: 4 May 2030 → 1 Jun 2030"
    assert staff.body == (
        "A booking moved to another date.\n\n"
        "From:      4 May 2030\n"
        "To:        1 Jun 2030\n"
        "By:        staff\n"
        "Couple:    Ada & Grace\n"
        "Price:     1,623.45 USD → 1,800.00 USD\n"
        "Fee:       50.00 USD\n"
        "Refund:    0.00 USD\n"
        "Still due: 226.55 USD\n"
        f"Booking:   {booking.pk}\n\n"
        f"Open it in Altar: {LINK.format(booking.pk)}\n\n"
    )
