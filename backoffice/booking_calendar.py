"""The staff's month calendar (/admin/bookings/booking/calendar/): what each
day is (booked, held, blacked out, past, too soon or too far for couples to
book, free) in words, and what staff do from it: open the booking's summary
card, open or add a blackout, move a wedding. Reads only; every write stays
behind the admin pages it links to.

Which tenant: backoffice.admin_tenant (a superuser picks one).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from backoffice.admin_tenant import admin_tenant
from bookings.models import Booking
from bookings.selectors import CalendarDay, booking_calendar_month, tenant_today

# The calendar pads a month to whole weeks and links the months either side:
# for 0001-01 and 9999-12 those fall outside the dates Python (and the
# page) can represent, so the months the calendar shows stop one short.
FIRST_CALENDAR_MONTH = dt.date(1, 2, 1)
LAST_CALENDAR_MONTH = dt.date(9999, 11, 1)

# What each state reads as on the page: the state never relies on colour.
STATE_WORDS = {
    "booked": "Booked",
    "held": "Held",
    "blackout": "Blackout",
    "past": "Past",
    "too_soon": "Too soon",
    "too_far": "Too far",
    "free": "Free",
}


def parse_month(value: str, default: dt.date) -> dt.date:
    """`YYYY-MM` as the first day of that month; anything else (including a
    month outside FIRST/LAST_CALENDAR_MONTH): `default`'s month."""
    try:
        parsed = dt.datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        parsed = default
    if not FIRST_CALENDAR_MONTH <= parsed <= LAST_CALENDAR_MONTH:
        parsed = default
    return parsed.replace(day=1)


def month_param(month: dt.date) -> str:
    # Not strftime("%Y-%m"): the C library writes year 1 as "1", not "0001".
    return month.isoformat()[:7]


def _shift_month(month: dt.date, by: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + by
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class CalendarCell:
    day: CalendarDay
    label: str  # the accessible name: the whole date and what it is
    text: str  # the visible word(s): the state never relies on colour alone
    url: str
    action: str  # what following the link does
    move_url: str = ""  # a confirmed booking: staff move it from here


def _cell(day: CalendarDay, *, blackout_add: str, add_query: dict[str, Any]) -> CalendarCell:
    when = f"{day.date:%A} {day.date.day} {day.date:%B %Y}"
    state = day.state
    text = STATE_WORDS[state]
    url, action = "", ""
    if day.booking is not None:
        text = f"{text}: {day.booking.couple_name}"
        url = reverse("admin:bookings_booking_change", args=[day.booking.pk])
        action = "open booking"
    elif day.blackout is not None:
        text = f"{text}{': ' + day.blackout.reason if day.blackout.reason else ''}"
        url = reverse("admin:bookings_blackoutdate_change", args=[day.blackout.pk])
        action = "open blackout"
    elif not day.past:
        # Free, too soon or too far: couples cannot book the last two, but
        # an owner may still block one ahead (a too-far day comes into the
        # window as the months pass).
        url = f"{blackout_add}?{urlencode({'date': day.date.isoformat(), **add_query})}"
        action = "add blackout"
    if day.past and state in ("booked", "held", "blackout"):
        text = f"{text} (past)"
    label = f"{when}: {text}" + (f" — {action}" if action else "")
    if day.today:
        label = f"Today, {label}"
    move_url = ""
    if day.booking is not None and state == "booked" and not day.past:
        move_url = reverse("admin:bookings_booking_move", args=[day.booking.pk])
    return CalendarCell(day=day, label=label, text=text, url=url, action=action, move_url=move_url)


def calendar_context(request: HttpRequest) -> dict[str, Any]:
    chosen = admin_tenant(request)
    if chosen.tenant is None:
        if not request.user.is_superuser:
            raise Http404("Not found.")
        return {"tenant": None, "tenant_choices": chosen.choices}
    tenant = chosen.tenant
    today = tenant_today(tenant=tenant, now=timezone.now())
    month = parse_month(request.GET.get("month", ""), today)
    weeks = booking_calendar_month(tenant=tenant, month=month)
    base = {"tenant": tenant.slug} if request.user.is_superuser else {}
    # The blackout form comes back to this month once saved; a superuser's
    # form also needs the tenant (they act on one tenant at a time).
    add_query: dict[str, Any] = {"calendar": month_param(month)}
    if request.user.is_superuser:
        add_query["tenant"] = tenant.pk
    blackout_add = reverse("admin:bookings_blackoutdate_add")
    return {
        "tenant": tenant,
        "tenant_choices": chosen.choices,
        "month": month,
        "weeks": [
            [_cell(day, blackout_add=blackout_add, add_query=add_query) for day in week]
            for week in weeks
        ],
        "weekdays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        "prev_url": "?" + urlencode({**base, "month": month_param(_shift_month(month, -1))}),
        "next_url": "?" + urlencode({**base, "month": month_param(_shift_month(month, 1))}),
        "today_url": "?" + urlencode({**base, "month": month_param(today)}),
        "prev_month": _shift_month(month, -1),
        "next_month": _shift_month(month, 1),
    }


def calendar_view(request: HttpRequest) -> HttpResponse:
    booking_admin = admin.site.get_model_admin(Booking)
    if not booking_admin.has_view_permission(request):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "opts": Booking._meta,
        "title": "Calendar",
        # The header reads "Calendar", not unfold's "Bookings > Bookings".
        "header_parts": [{"title": "Calendar"}],
        **calendar_context(request),
    }
    return TemplateResponse(request, "backoffice/calendar.html", context)
