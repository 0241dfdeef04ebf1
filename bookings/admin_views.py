"""The staff's daily tools in the admin, beyond lists: the month calendar
and the CSV export (the dashboard is backoffice.dashboard's). Reads only; every
write stays in bookings.services behind BookingAdmin's views.

Which tenant: a staff member's active tenant (tenants.middleware); a
superuser, who runs unscoped, picks one with `?tenant=<slug>` (the dashboard
also has an "all tenants" view).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from bookings.models import Booking
from bookings.selectors import (
    CalendarDay,
    booking_balance_due_cents,
    booking_calendar_month,
    tenant_today,
)
from tenants.admin_base import request_tenant
from tenants.models import Tenant
from tenants.validators import minor_per_major

# --- which tenant -------------------------------------------------------------


@dataclass(frozen=True)
class AdminTenant:
    tenant: Tenant | None  # None: a superuser looking at every tenant (or none picked)
    choices: list[Tenant]  # what a superuser may pick from; empty for staff


def admin_tenant(request: HttpRequest) -> AdminTenant:
    """Staff: their active tenant, whatever the query string says (a
    `?tenant=` naming another tenant is ignored, never obeyed). Superusers:
    the tenant named by `?tenant=<slug>`, if any."""
    if request.user.is_superuser:
        choices = list(Tenant.objects.order_by("name", "slug"))
        wanted = request.GET.get("tenant", "")
        return AdminTenant(
            tenant=next((tenant for tenant in choices if tenant.slug == wanted), None),
            choices=choices,
        )
    return AdminTenant(tenant=request_tenant(request), choices=[])


# --- calendar -----------------------------------------------------------------


# The calendar pads a month to whole weeks and links the months either side:
# for 0001-01 and 9999-12 those fall outside the dates Python (and the
# page) can represent, so the months the calendar shows stop one short.
FIRST_CALENDAR_MONTH = dt.date(1, 2, 1)
LAST_CALENDAR_MONTH = dt.date(9999, 11, 1)


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


def _month_param(month: dt.date) -> str:
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


def _cell(day: CalendarDay, *, blackout_add: str, tenant_pk: int | None) -> CalendarCell:
    when = f"{day.date:%A} {day.date.day} {day.date:%B %Y}"
    state = day.state
    url, action = "", ""
    if day.booking is not None:
        status = "Booked" if state == "booked" else "Held"
        text = f"{status}: {day.booking.couple_name}"
        url = reverse("admin:bookings_booking_change", args=[day.booking.pk])
        action = "open booking"
    elif day.blackout is not None:
        text = f"Blackout{': ' + day.blackout.reason if day.blackout.reason else ''}"
        url = reverse("admin:bookings_blackoutdate_change", args=[day.blackout.pk])
        action = "open blackout"
    elif day.past:
        text = "Past"
    else:
        text = "Free"
        query = {"date": day.date.isoformat()}
        if tenant_pk is not None:
            query["tenant"] = tenant_pk
        url = f"{blackout_add}?{urlencode(query)}"
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
    blackout_add = reverse("admin:bookings_blackoutdate_add")
    tenant_pk = tenant.pk if request.user.is_superuser else None
    base = {"tenant": tenant.slug} if request.user.is_superuser else {}
    return {
        "tenant": tenant,
        "tenant_choices": chosen.choices,
        "month": month,
        "weeks": [
            [_cell(day, blackout_add=blackout_add, tenant_pk=tenant_pk) for day in week]
            for week in weeks
        ],
        "weekdays": ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"],
        "prev_url": "?" + urlencode({**base, "month": _month_param(_shift_month(month, -1))}),
        "next_url": "?" + urlencode({**base, "month": _month_param(_shift_month(month, 1))}),
        "today_url": "?" + urlencode({**base, "month": _month_param(today)}),
        "prev_month": _shift_month(month, -1),
        "next_month": _shift_month(month, 1),
    }


# --- CSV export ---------------------------------------------------------------

# A spreadsheet runs a cell starting with one of these as a formula (OWASP
# "CSV injection"); a leading apostrophe makes it plain text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Money twice: in the currency's units for people ("1800.00", JPY "180000":
# a plain number a spreadsheet sums, the code in `currency`) and, beside
# it, the `*_cents` column in minor units for machines. Times are in the
# business's time zone (`time_zone`), as "2030-05-04 14:30", which
# spreadsheets read as a date-time.
CSV_COLUMNS = (
    "id",
    "tenant",
    "event_date",
    "status",
    "couple_name",
    "email",
    "phone",
    "package",
    "add_ons",
    "currency",
    "total",
    "amount_cents",
    "paid",
    "paid_cents",
    "refunded",
    "refunded_cents",
    "commission",
    "commission_cents",
    "commission_refunded",
    "commission_refunded_cents",
    "balance_due",
    "balance_due_cents",
    "balance_due_on",
    "payments",
    "payments_cents",
    "time_zone",
    "hold_expires_at",
    "created_at",
    "confirmed_at",
    "canceled_at",
    "cancel_reason",
    "notes",
    "answers",
)


def csv_safe(value: Any) -> Any:
    """Neutralise a text cell a spreadsheet would evaluate. Numbers are
    written as numbers (a negative amount never occurs: all are unsigned)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def units(cents: int, currency: str) -> Decimal:
    """Minor units as a number in the currency's units: 162345 USD ->
    1623.45, 180000 JPY -> 180000."""
    per_major = minor_per_major(currency)
    places = len(str(per_major)) - 1
    return (Decimal(cents) / per_major).quantize(Decimal(1).scaleb(-places))


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value is not None else ""


def _local(value: dt.datetime | None, zone: ZoneInfo) -> str:
    return timezone.localtime(value, zone).strftime("%Y-%m-%d %H:%M") if value else ""


def booking_csv_row(booking: Booking) -> list[Any]:
    currency = booking.currency
    zone = ZoneInfo(booking.tenant.timezone)
    balance_due = booking_balance_due_cents(booking)
    row = [
        str(booking.pk),
        booking.tenant.slug,
        _day(booking.event_date),
        booking.status,
        booking.couple_name,
        booking.email,
        booking.phone,
        booking.package.title,
        ", ".join(line.title for line in booking.add_on_lines.all()),
        currency,
        units(booking.amount_cents, currency),
        booking.amount_cents,
        units(booking.paid_cents, currency),
        booking.paid_cents,
        units(booking.refunded_cents, currency),
        booking.refunded_cents,
        units(booking.commission_cents, currency),
        booking.commission_cents,
        units(booking.commission_refunded_cents, currency),
        booking.commission_refunded_cents,
        units(balance_due, currency),
        balance_due,
        _day(booking.balance_due_on),
        _ledger_cell(booking, in_units=True),
        _ledger_cell(booking, in_units=False),
        booking.tenant.timezone,
        _local(booking.hold_expires_at, zone),
        _local(booking.created_at, zone),
        _local(booking.confirmed_at, zone),
        _local(booking.canceled_at, zone),
        booking.cancel_reason,
        booking.notes,
        format_answers(booking),
    ]
    return [csv_safe(value) for value in row]


def _ledger_cell(booking: Booking, *, in_units: bool) -> str:
    """The payments ledger in one cell: `kind:status:amount:commission[:stripe id]`
    per payment (each refund as `refund:status:amount`), `; `-separated;
    amounts in units (`payments`) or minor units (`payments_cents`)."""

    def amount(cents: int) -> str:
        return str(units(cents, booking.currency)) if in_units else str(cents)

    parts = []
    for payment in booking.payments.all():
        parts.append(
            ":".join(
                (
                    payment.kind,
                    payment.status,
                    amount(payment.amount_cents),
                    amount(payment.application_fee_cents),
                    payment.stripe_payment_intent_id or "",
                )
            ).rstrip(":")
        )
        parts += [
            f"refund:{refund.status}:{amount(refund.amount_cents)}"
            for refund in payment.refunds.all()
        ]
    return "; ".join(parts)


def format_answers(booking: Booking) -> str:
    """The booking's answers as one cell: "guests: 12; venue: The barn"."""
    return "; ".join(f"{key}: {value}" for key, value in (booking.answers or {}).items())


def bookings_csv_response(queryset, *, filename: str) -> HttpResponse:
    """`queryset` is the changelist's own (filters, search, scope applied)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    rows = queryset.select_related("package", "tenant").prefetch_related(
        "add_on_lines", "payments__refunds"
    )
    for booking in rows:
        writer.writerow(booking_csv_row(booking))
    return response
