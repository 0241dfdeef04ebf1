"""Manage my booking: the signed link in the couple's e-mails, the page it
opens, the calendar file, and "send me my link"."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core import mail

from bookings.manage_links import manage_path, manage_token
from bookings.models import Booking
from bookings.tasks import booking_mail_confirmed
from tests.conftest import run_outbox
from tests.factories import BookingAddOnFactory, BookingFactory, PackageFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def booking(tenant, unscoped) -> Booking:
    tenant.contact_email = "hello@alpha.example"
    tenant.save()
    package = PackageFactory(tenant=tenant, title="Garden party", price_cents=150_000)
    booking = BookingFactory(
        tenant=tenant,
        package=package,
        event_date=dt.date(2030, 6, 1),
        email="ada@example.com",
        amount_cents=162_345,
        paid_cents=162_345,
        status=Booking.Status.CONFIRMED,
    )
    BookingAddOnFactory(
        tenant=tenant, booking=booking, slug="flowers", title="Flowers", price_cents=12_345
    )
    return booking


def test_link_opens_status_receipt_contact_and_calendar(client, booking):
    # One link, used as the couple would (a second call could sign another second).
    link = manage_path(booking.pk)
    response = client.get(link)

    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    html = response.content.decode()
    assert '<strong class="badge confirmed">Confirmed</strong>' in html
    assert '<tr><th scope="row">Flowers</th><td class="amount">$123.45</td></tr>' in html
    assert '<tr><th scope="row">Paid</th><td class="amount">$1,623.45</td></tr>' in html
    assert '<a href="mailto:hello@alpha.example">hello@alpha.example</a>' in html
    assert f'href="{link}calendar.ics" download' in html
    assert (
        "https://calendar.google.com/calendar/render?action=TEMPLATE&amp;text=Garden+party"
        "+%E2%80%94+Alpha+Weddings&amp;dates=20300601%2F20300602"
    ) in html


def test_calendar_file_is_an_all_day_event(client, booking):
    response = client.get(manage_path(booking.pk) + "calendar.ics")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="wedding.ics"'
    body = response.content.decode()
    assert "DTSTART;VALUE=DATE:20300601\r\n" in body
    assert "DTEND;VALUE=DATE:20300602\r\n" in body


def test_forged_expired_or_other_bookings_links_change_nothing(client, booking, tenant, settings):
    other = BookingFactory(tenant=tenant, status=Booking.Status.CONFIRMED)
    token = manage_token(booking.pk)
    forged = token[:-3] + ("aaa" if not token.endswith("aaa") else "bbb")

    answers = [
        client.get(f"/bookings/{booking.pk}/manage/{forged}/"),
        client.get(f"/bookings/{other.pk}/manage/{token}/"),  # another booking's link
        client.get(f"/bookings/{other.pk}/manage/{token}/calendar.ics"),
    ]
    settings.MANAGE_LINK_MAX_AGE_DAYS = -1  # every link is past its age
    answers.append(client.get(manage_path(booking.pk)))

    for response in answers:
        assert response.status_code == 404
        html = response.content.decode()
        assert "<h1>This link does not work any more</h1>" in html
        assert "Nothing has been changed." in html
        assert "Garden party" not in html
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


def test_confirmation_mail_carries_the_link_in_the_couples_language(client, booking, settings):
    settings.PUBLIC_BASE_URL = "https://altar.example"
    Booking.objects.filter(pk=booking.pk).update(language="es")

    booking_mail_confirmed.enqueue(tenant_id=booking.tenant_id, booking_id=str(booking.pk))
    run_outbox()

    couple, staff = mail.outbox
    assert couple.to == ["ada@example.com"]
    assert couple.subject == "Tu fecha de boda está confirmada: sábado, 1 de junio de 2030"
    assert "Total:    1.623,45\u00a0US$" in couple.body
    link = re.search(r"https://altar\.example(/bookings/\S+/manage/\S+/)", couple.body).group(1)
    assert client.get(link).status_code == 200
    assert staff.subject == "New confirmed booking: 1 Jun 2030"


def test_send_me_my_link_answers_the_same_and_mails_only_real_bookings(
    client, booking, tenant, settings
):
    settings.PUBLIC_BASE_URL = "https://altar.example"
    url = f"/book/{tenant.slug}/link/"

    known = client.post(url, {"email": "ADA@example.com"})
    unknown = client.post(url, {"email": "nobody@example.com"})
    run_outbox()

    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content
    [sent] = mail.outbox
    assert sent.to == ["ada@example.com"]
    assert sent.subject == "Your link to manage your booking with Alpha Weddings"
    link = re.search(r"https://altar\.example(/bookings/\S+/manage/\S+/)", sent.body).group(1)
    assert client.get(link).status_code == 200


def test_send_me_my_link_needs_an_email_address(client, tenant):
    response = client.post(f"/book/{tenant.slug}/link/", {"email": "not-an-email"})

    assert response.status_code == 400
    assert "Enter a valid e-mail address, like ada@example.com." in response.content.decode()
    assert run_outbox() == 0


def test_send_me_my_link_is_per_business(client, booking, other_tenant):
    client.post(f"/book/{other_tenant.slug}/link/", {"email": "ada@example.com"})

    run_outbox()

    assert mail.outbox == []
