"""The booking calendar in the admin: which day shows what, month
navigation, the tenant boundary, accessibility markup."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.conf import settings
from django.utils import timezone

from bookings.models import Booking
from bookings.selectors import booking_calendar_month
from tests.factories import BlackoutDateFactory, BookingFactory

pytestmark = pytest.mark.django_db

URL = "/admin/bookings/booking/calendar/"


def month_after_next() -> dt.date:
    """A month entirely in the future, whatever today is."""
    first = timezone.now().date().replace(day=1)
    return (first + dt.timedelta(days=62)).replace(day=1)


def cells(html: str) -> dict[str, tuple[str, str]]:
    """data-date -> (data-state, accessible label) of every day cell: the
    link's aria-label, or the visually hidden text of a cell without a link."""
    return {
        date: (state, label)
        for date, state, label in re.findall(
            r'<td class="[^"]*" data-date="([\d-]+)" data-state="(\w+)"[^>]*>\s*'
            r'(?:<a href="[^"]*" aria-label="|<span class="visually-hidden">)([^"<]*)',
            html,
        )
    }


@pytest.fixture
def month_data(tenant, other_tenant, unscoped):
    month = month_after_next()
    now = timezone.now()
    return {
        "month": month,
        "booked": BookingFactory(
            tenant=tenant, event_date=month.replace(day=3), couple_name="Ada & Grace"
        ),
        "held": BookingFactory(
            tenant=tenant,
            event_date=month.replace(day=4),
            status=Booking.Status.HELD,
            hold_expires_at=now + dt.timedelta(minutes=20),
            couple_name="Held & Co",
        ),
        # A lapsed hold and a canceled booking do not occupy their dates.
        "lapsed": BookingFactory(
            tenant=tenant,
            event_date=month.replace(day=5),
            status=Booking.Status.HELD,
            hold_expires_at=now - dt.timedelta(minutes=1),
            couple_name="Lapsed",
        ),
        "canceled": BookingFactory(
            tenant=tenant,
            event_date=month.replace(day=6),
            status=Booking.Status.CANCELED,
            couple_name="Canceled",
        ),
        "blackout": BlackoutDateFactory(tenant=tenant, date=month.replace(day=7), reason="Holiday"),
        "theirs": BookingFactory(
            tenant=other_tenant, event_date=month.replace(day=8), couple_name="Their Couple"
        ),
        "their_blackout": BlackoutDateFactory(
            tenant=other_tenant, date=month.replace(day=9), reason="Their holiday"
        ),
    }


def test_calendar_month_shows_each_day_state(staff_client, month_data, unscoped):
    month = month_data["month"]

    page = staff_client.get(URL, {"month": f"{month:%Y-%m}"})

    assert page.status_code == 200
    html = page.content.decode()
    days = cells(html)
    day = lambda n: month.replace(day=n).isoformat()  # noqa: E731
    assert days[day(3)][0] == "booked"
    assert days[day(4)][0] == "held"
    assert days[day(5)][0] == "free"
    assert days[day(6)][0] == "free"
    assert days[day(7)][0] == "blackout"
    assert days[day(8)][0] == "free"  # the other tenant's booking
    assert days[day(9)][0] == "free"  # the other tenant's blackout
    in_month = [d for d in days if d.startswith(f"{month:%Y-%m}")]
    assert sorted(set(state for d, (state, _) in days.items() if d in in_month)) == [
        "blackout",
        "booked",
        "free",
        "held",
    ]
    booked = month_data["booked"]
    assert (
        f"{month.replace(day=3):%A} 3 {month:%B %Y}: Booked: Ada &amp; Grace — open booking"
        in (days[day(3)][1])
    )
    assert f'href="/admin/bookings/booking/{booked.pk}/change/"' in html
    assert f'href="/admin/bookings/booking/{month_data["held"].pk}/change/"' in html
    assert f'href="/admin/bookings/blackoutdate/{month_data["blackout"].pk}/change/"' in html
    add_day_5 = f"/admin/bookings/blackoutdate/add/?date={day(5)}&amp;calendar={month:%Y-%m}"
    assert f'href="{add_day_5}"' in html
    assert "Their Couple" not in html and "Their holiday" not in html
    assert "Lapsed" not in html and "Canceled" not in html


def test_calendar_accessible_markup_and_navigation(staff_client, tenant, unscoped):
    month = month_after_next()
    prev_month = (month - dt.timedelta(days=1)).replace(day=1)
    next_month = (month + dt.timedelta(days=32)).replace(day=1)

    html = staff_client.get(URL, {"month": f"{month:%Y-%m}"}).content.decode()

    assert f"<caption>Bookings of Alpha Weddings, {month:%B %Y}</caption>" in html
    table = html[
        html.index('id="booking-calendar"') : html.index("</table>", html.index("booking-calendar"))
    ]
    assert table.count('<th scope="col">') == 7
    assert f'href="?month={prev_month:%Y-%m}"' in html
    assert f'href="?month={next_month:%Y-%m}"' in html
    # The phone layout and focus styles live in the calendar's stylesheet
    # (no inline <style> under the CSP).
    assert "backoffice/calendar.css" in html
    css = (settings.BASE_DIR / "backoffice/static/backoffice/calendar.css").read_text()
    assert "@media (max-width: 600px)" in css
    assert ":focus-visible" in css
    assert len(cells(html)) % 7 == 0


def test_calendar_marks_past_days_and_today(tenant, unscoped):
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    BookingFactory(tenant=tenant, event_date=dt.date(2026, 11, 10), couple_name="Earlier")
    BlackoutDateFactory(tenant=tenant, date=dt.date(2026, 11, 11), reason="")

    weeks = booking_calendar_month(tenant=tenant, month=dt.date(2026, 11, 1), now=now)

    days = {day.date.day: day for week in weeks for day in week if day.in_month}
    assert [(n, days[n].state, days[n].past, days[n].today) for n in (10, 11, 19, 20, 21)] == [
        (10, "booked", True, False),
        (11, "blackout", True, False),
        (19, "past", True, False),
        (20, "free", False, True),
        (21, "free", False, False),
    ]
    assert [day.date for day in weeks[0][:6]] == [dt.date(2026, 10, 26 + n) for n in range(6)]
    # 30 November 2026 is a Monday: the last row is padded to Sunday 6 December.
    assert (weeks[-1][0].date, weeks[-1][-1].date) == (dt.date(2026, 11, 30), dt.date(2026, 12, 6))


def test_calendar_page_labels_today_and_past_bookings(staff_client, tenant, unscoped):
    today = timezone.now().date()  # the tenant is in UTC
    earlier = BookingFactory(
        tenant=tenant, event_date=today - dt.timedelta(days=1), couple_name="Earlier"
    )

    html = staff_client.get(URL, {"month": f"{earlier.event_date:%Y-%m}"}).content.decode()

    days = cells(html)
    assert days[earlier.event_date.isoformat()] == (
        "booked",
        f"{earlier.event_date:%A} {earlier.event_date.day} {earlier.event_date:%B %Y}: "
        "Booked: Earlier (past) — open booking",
    )
    this_month = staff_client.get(URL).content.decode()
    assert cells(this_month)[today.isoformat()] == (
        "free",
        f"Today, {today:%A} {today.day} {today:%B %Y}: Free — add blackout",
    )
    assert this_month.count('aria-current="date"') == 1


def test_calendar_selector_costs_two_queries(tenant, month_data, django_assert_num_queries):
    with django_assert_num_queries(2):
        weeks = booking_calendar_month(tenant=tenant, month=month_data["month"])

    flat = {day.date: day.state for week in weeks for day in week}
    assert flat[month_data["month"].replace(day=3)] == "booked"
    assert all(len(week) == 7 for week in weeks)
    assert weeks[0][0].date.weekday() == 0


def test_bad_month_parameter_shows_the_current_month(staff_client, tenant):
    html = staff_client.get(URL, {"month": "2026-13"}).content.decode()

    assert f"{timezone.now().date():%B %Y}</caption>" in html


def test_staff_cannot_see_another_tenants_calendar_by_query(staff_client, month_data, unscoped):
    month = month_data["month"]

    html = staff_client.get(URL, {"month": f"{month:%Y-%m}", "tenant": "beta-weddings"}).content
    html = html.decode()

    assert "Alpha Weddings," in html
    assert "Their Couple" not in html


def test_superuser_picks_a_tenant_for_the_calendar(superuser_client, month_data, unscoped):
    month = month_data["month"]

    picker = superuser_client.get(URL)
    theirs = superuser_client.get(URL, {"month": f"{month:%Y-%m}", "tenant": "beta-weddings"})

    assert picker.status_code == 200
    assert "Choose a tenant to see its calendar." in picker.content.decode()
    html = theirs.content.decode()
    assert f"<caption>Bookings of Beta Weddings, {month:%B %Y}</caption>" in html
    days = cells(html)
    assert days[month.replace(day=8).isoformat()][0] == "booked"
    assert days[month.replace(day=3).isoformat()][0] == "free"
    assert "Their Couple" in html and "Ada &amp; Grace" not in html
    other_id = month_data["theirs"].tenant_id
    assert (
        f"/admin/bookings/blackoutdate/add/?date={month.replace(day=3)}"
        f"&amp;calendar={month:%Y-%m}&amp;tenant={other_id}" in (html)
    )


def test_blackout_add_form_is_prefilled_from_the_calendar_link(staff_client, tenant):
    page = staff_client.get("/admin/bookings/blackoutdate/add/", {"date": "2030-06-01"})

    assert page.status_code == 200
    assert page.context["adminform"].form.initial["date"] == "2030-06-01"


def test_a_user_without_a_tenant_role_cannot_open_the_calendar(client, db):
    from tests.factories import UserFactory

    client.force_login(UserFactory())

    assert client.get(URL).status_code == 403


def test_days_outside_the_booking_window_read_too_soon_and_too_far(tenant, unscoped):
    # Given: 14 days' notice and a 60-day horizon; today is 20 November 2026.
    tenant.min_notice_days, tenant.max_advance_days = 14, 60
    tenant.save()
    now = dt.datetime(2026, 11, 20, 12, 0, tzinfo=dt.UTC)
    BookingFactory(tenant=tenant, event_date=dt.date(2026, 11, 25), couple_name="Soon")

    # When: the calendar reads November and January.
    november = booking_calendar_month(tenant=tenant, month=dt.date(2026, 11, 1), now=now)
    january = booking_calendar_month(tenant=tenant, month=dt.date(2027, 1, 1), now=now)

    # Then: the same rule as availability (window_refusal); a booking outranks it.
    states = {day.date: day.state for weeks in (november, january) for w in weeks for day in w}
    assert [states[dt.date(2026, 11, n)] for n in (19, 20, 25, 30)] == [
        "past",
        "too_soon",
        "booked",
        "too_soon",
    ]
    assert states[dt.date(2026, 12, 4)] == "free"  # today + 14
    assert [states[dt.date(2027, 1, n)] for n in (18, 19, 20)] == [
        "free",
        "free",  # today + 60
        "too_far",
    ]


def test_calendar_page_labels_too_soon_and_too_far_days_in_words(staff_client, tenant, unscoped):
    tenant.min_notice_days, tenant.max_advance_days = 3, 40
    tenant.save()
    today = timezone.now().date()  # the tenant is in UTC
    soon, first_open = today + dt.timedelta(days=2), today + dt.timedelta(days=3)
    last_open, far = today + dt.timedelta(days=40), today + dt.timedelta(days=41)

    labels = {}
    for day in (soon, first_open, last_open, far):
        html = staff_client.get(URL, {"month": f"{day:%Y-%m}"}).content.decode()
        labels[day] = cells(html)[day.isoformat()]
        visible = re.search(
            rf'data-date="{day.isoformat()}".*?<span class="state">([^<]*)</span>', html, re.S
        ).group(1)
        labels[day] = (*labels[day], visible)

    when = lambda d: f"{d:%A} {d.day} {d:%B %Y}"  # noqa: E731
    assert labels == {
        soon: ("too_soon", f"{when(soon)}: Too soon — add blackout", "Too soon"),
        first_open: ("free", f"{when(first_open)}: Free — add blackout", "Free"),
        last_open: ("free", f"{when(last_open)}: Free — add blackout", "Free"),
        far: ("too_far", f"{when(far)}: Too far — add blackout", "Too far"),
    }
    legend = staff_client.get(URL).content.decode()
    assert "<strong>Too soon</strong>: inside your minimum notice of 3 days" in legend
    assert "<strong>Too far</strong>: beyond your booking horizon of 40 days" in legend


def test_blackout_added_from_a_day_returns_to_its_month(staff_client, tenant, unscoped):
    month = month_after_next()
    day = month.replace(day=12)
    html = staff_client.get(URL, {"month": f"{month:%Y-%m}"}).content.decode()
    add_url = f"/admin/bookings/blackoutdate/add/?date={day}&calendar={month:%Y-%m}"
    assert f'href="{add_url.replace("&", "&amp;")}"' in html

    form = staff_client.get(add_url)
    saved = staff_client.post(add_url, {"date": day.isoformat(), "reason": "Family wedding"})

    assert form.context["adminform"].form.initial["date"] == day.isoformat()
    assert saved.status_code == 302
    assert saved["Location"] == f"{URL}?month={month:%Y-%m}"
    after = staff_client.get(saved["Location"]).content.decode()
    assert cells(after)[day.isoformat()][0] == "blackout"
    assert (
        f"{day:%A} {day.day} {day:%B %Y}: Blackout: Family wedding — open blackout"
        == cells(after)[day.isoformat()][1]
    )


def test_blackout_form_ignores_a_calendar_value_that_is_not_a_month(staff_client, tenant):
    day = month_after_next().replace(day=14)
    add_url = f"/admin/bookings/blackoutdate/add/?date={day}&calendar=//evil.example"

    saved = staff_client.post(add_url, {"date": day.isoformat(), "reason": ""})

    assert saved.status_code == 302
    assert saved["Location"] == "/admin/bookings/blackoutdate/"


def test_booked_and_held_days_open_the_booking_summary(staff_client, month_data, unscoped):
    month = month_data["month"]
    html = staff_client.get(URL, {"month": f"{month:%Y-%m}"}).content.decode()

    for key in ("booked", "held"):
        booking = month_data[key]
        cell = html[html.index(f'data-date="{booking.event_date}"') :]
        href = re.search(r'<a href="([^"]+)"', cell).group(1)
        summary = staff_client.get(href)
        assert (href, summary.status_code) == (f"/admin/bookings/booking/{booking.pk}/change/", 200)
        assert 'id="booking-summary"' in summary.content.decode()
