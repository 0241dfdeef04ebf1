"""The staff's daily tools in the admin, beyond lists: the dashboard (the
admin index), the month calendar and the CSV export. Reads only; every
write stays in bookings.services behind BookingAdmin's views.

Which tenant: a staff member's active tenant (tenants.middleware); a
superuser, who runs unscoped, picks one with `?tenant=<slug>` (the dashboard
also has an "all tenants" view).
"""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from bookings.agreements import cancellation_requests_open
from bookings.models import Booking
from bookings.notifications import format_money
from bookings.selectors import (
    CalendarDay,
    Dashboard,
    booking_balance_due_cents,
    booking_calendar_month,
    dashboard_balances,
    dashboard_get,
    reconcile_last_run,
    tenant_today,
)
from tenants.admin_base import STAFF_ROLES, request_tenant, role_allowed
from tenants.models import Tenant

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


# --- dashboard ----------------------------------------------------------------


@dataclass(frozen=True)
class RevenueRow:
    month: dt.date
    currency: str
    bookings: int
    revenue: str
    commission: str


def dashboard_context(request: HttpRequest) -> dict[str, Any] | None:
    """What templates/admin/index.html shows, or None for users without a
    tenant role (they get Django's plain index)."""
    if not role_allowed(request, STAFF_ROLES):
        return None
    chosen = admin_tenant(request)
    if chosen.tenant is None and not request.user.is_superuser:
        return None
    dashboard: Dashboard = dashboard_get(tenant=chosen.tenant)
    revenue = [
        RevenueRow(
            month=row.month,
            currency=row.currency,
            bookings=row.bookings,
            revenue=format_money(row.revenue_cents, row.currency),
            commission=format_money(row.commission_cents, row.currency),
        )
        for row in dashboard.revenue
    ]
    webhooks = reverse("admin:webhooks_stripeevent_changelist")
    failed_query = {"status__exact": "failed"}
    if chosen.tenant is not None and request.user.is_superuser:
        failed_query["tenant__id__exact"] = chosen.tenant.pk
    tenant_query = ""
    if chosen.tenant is not None and request.user.is_superuser:
        tenant_query = "?" + urlencode({"tenant": chosen.tenant.slug})
    return {
        "tenant": chosen.tenant,
        "tenant_choices": chosen.choices,
        "dashboard": dashboard,
        "revenue_months": [
            {"month": month, "rows": [row for row in revenue if row.month == month]}
            for month in dashboard.months
        ],
        "failed_webhooks_url": f"{webhooks}?{urlencode(failed_query)}",
        "calendar_url": reverse("admin:bookings_booking_calendar") + tenant_query,
        "bookings_url": reverse("admin:bookings_booking_changelist"),
        "held_url": reverse("admin:bookings_booking_changelist") + "?status__exact=held",
        "blackouts_url": reverse("admin:bookings_blackoutdate_changelist"),
        "payment_reviews_url": reverse("admin:bookings_paymentreview_changelist")
        + "?resolved_at__isempty=1",
        "disputes_url": reverse("admin:bookings_bookingdispute_changelist"),
        "balances": dashboard_balances(tenant=chosen.tenant, today=dashboard.today),
        "cancellation_requests": cancellation_requests_open(tenant=chosen.tenant),
        "cancellation_requests_url": reverse("admin:bookings_cancellationrequest_changelist")
        + "?resolved_at__isempty=1",
        # Platform ops only: a run may span every tenant.
        "reconcile": reconcile_last_run() if request.user.is_superuser else None,
        "reconcile_never": request.user.is_superuser,
    }


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
    "amount_cents",
    "paid_cents",
    "refunded_cents",
    "commission_cents",
    "commission_refunded_cents",
    "balance_due_cents",
    "balance_due_on",
    "payments",
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


def _iso(value: dt.datetime | dt.date | None) -> str:
    return value.isoformat() if value is not None else ""


def booking_csv_row(booking: Booking) -> list[Any]:
    row = [
        str(booking.pk),
        booking.tenant.slug,
        _iso(booking.event_date),
        booking.status,
        booking.couple_name,
        booking.email,
        booking.phone,
        booking.package.title,
        ", ".join(line.title for line in booking.add_on_lines.all()),
        booking.currency,
        booking.amount_cents,
        booking.paid_cents,
        booking.refunded_cents,
        booking.commission_cents,
        booking.commission_refunded_cents,
        booking_balance_due_cents(booking),
        _iso(booking.balance_due_on),
        _ledger_cell(booking),
        _iso(booking.hold_expires_at),
        _iso(booking.created_at),
        _iso(booking.confirmed_at),
        _iso(booking.canceled_at),
        booking.cancel_reason,
        booking.notes,
        format_answers(booking),
    ]
    return [csv_safe(value) for value in row]


def _ledger_cell(booking: Booking) -> str:
    """The payments ledger in one cell: `kind:status:amount:fee[:stripe id]`
    per payment (each refund as `refund:status:amount`), `; `-separated."""
    parts = []
    for payment in booking.payments.all():
        parts.append(
            ":".join(
                str(v)
                for v in (
                    payment.kind,
                    payment.status,
                    payment.amount_cents,
                    payment.application_fee_cents,
                    payment.stripe_payment_intent_id or "",
                )
            ).rstrip(":")
        )
        parts += [
            f"refund:{refund.status}:{refund.amount_cents}" for refund in payment.refunds.all()
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
