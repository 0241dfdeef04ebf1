"""Booking reads: availability, bookings, blackout dates.

Preconditions: run inside the tenant's scope (or `scopes_disabled()`); every
query still filters `tenant=` explicitly.

Availability costs one query whatever the range or the number of bookings:
the active bookings in the range (the partial unique (tenant, event_date)
index) and the blackout dates in the range (the unique (tenant, date) index). "Today" is the
tenant's today in its own time zone.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db import connection
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from bookings import money
from bookings.errors import BookingNotFound
from bookings.models import BlackoutDate, Booking, BookingPayment, BookingRefund, ReconcileRun
from bookings.refunds import refundable_now
from tenants.models import Tenant

# When several reasons apply to one date, the first listed wins: a past date
# is "past" even if it was booked.
REASONS = ("past", "booked", "held", "blackout", "too_soon", "too_far")
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class UnavailableDate:
    date: dt.date
    reason: str


def payment_plan_for(package) -> dict:
    """The plan in force for a package: its own, else its tenant's."""
    return package.plan_in_force


def tenant_today(*, tenant: Tenant, now: dt.datetime | None = None) -> dt.date:
    return (now or timezone.now()).astimezone(ZoneInfo(tenant.timezone)).date()


def window_refusal(*, tenant: Tenant, day: dt.date, today: dt.date) -> str | None:
    """past / too_soon / too_far from the tenant's booking window, else None."""
    if day < today:
        return "past"
    if day < today + dt.timedelta(days=tenant.min_notice_days):
        return "too_soon"
    if day > today + dt.timedelta(days=tenant.max_advance_days):
        return "too_far"
    return None


def occupying_bookings(*, tenant: Tenant, now: dt.datetime) -> QuerySet[Booking]:
    """Bookings that occupy their date: confirmed, paid with a delayed
    method still processing (no lapse ends it), or held with a hold that
    has not lapsed (a lapsed hold never blocks a date, whether or not
    `expire_holds` has marked it expired yet). A processing payment shows
    as `held`: the date is taken for now but may yet come free."""
    return Booking.objects.filter(tenant=tenant).filter(
        Q(status__in=[Booking.Status.CONFIRMED, Booking.Status.PAYMENT_PROCESSING])
        | Q(status=Booking.Status.HELD, hold_expires_at__gt=now)
    )


# One round trip for a whole range: the occupying bookings and the blackout
# dates. Written as SQL (the ORM's query building cost more than the query)
# with the same rules as occupying_bookings(). The redundant `status IN
# (active)` lets the planner prove the partial unique index's predicate and
# read only the range from (tenant_id, event_date); nothing here reads a
# tenant's other bookings.
_RANGE_SQL = """
    SELECT b.event_date, b.status = %(held)s OR b.status = %(processing)s
    FROM bookings_booking b
    WHERE b.tenant_id = %(tenant)s AND b.event_date BETWEEN %(start)s AND %(end)s
      AND b.status IN (%(held)s, %(processing)s, %(confirmed)s)
      AND (b.status <> %(held)s OR b.hold_expires_at > %(now)s)
    UNION ALL
    SELECT d.date, NULL
    FROM bookings_blackoutdate d
    WHERE d.tenant_id = %(tenant)s AND d.date BETWEEN %(start)s AND %(end)s
"""


def _range_rows(*, tenant: Tenant, start: dt.date, end: dt.date, now: dt.datetime):
    with connection.cursor() as cursor:
        cursor.execute(
            _RANGE_SQL,
            {
                "tenant": tenant.pk,
                "start": start,
                "end": end,
                "now": now,
                "held": Booking.Status.HELD,
                "processing": Booking.Status.PAYMENT_PROCESSING,
                "confirmed": Booking.Status.CONFIRMED,
            },
        )
        return cursor.fetchall()


def availability_for_range(
    *, tenant: Tenant, start: dt.date, end: dt.date, now: dt.datetime | None = None
) -> list[UnavailableDate]:
    """Every unavailable date in [start, end] (inclusive) with its reason, in
    date order. One query. The caller bounds the range (MAX_RANGE_DAYS).
    Reasons by precedence (REASONS): past, booked/held, blackout, too_soon,
    too_far; a held or processing booking shows as "held"."""
    now = now or timezone.now()
    today = tenant_today(tenant=tenant, now=now)
    occupied: dict[int, str] = {}
    blackouts: set[int] = set()
    for day, held in _range_rows(tenant=tenant, start=start, end=end, now=now):
        if held is None:
            blackouts.add(day.toordinal())
        else:
            occupied[day.toordinal()] = "held" if held else "booked"
    first, last = start.toordinal(), end.toordinal()
    today_n = today.toordinal()
    soon = today_n + tenant.min_notice_days  # before it: too_soon
    far = today_n + tenant.max_advance_days  # after it: too_far
    unavailable = []
    for n in range(first, last + 1):
        if n < today_n:
            reason = "past"
        elif n in occupied:
            reason = occupied[n]
        elif n in blackouts:
            reason = "blackout"
        elif n < soon:
            reason = "too_soon"
        elif n > far:
            reason = "too_far"
        else:
            continue
        unavailable.append(UnavailableDate(dt.date.fromordinal(n), reason))
    return unavailable


def availability_for_date(
    *, tenant: Tenant, day: dt.date, now: dt.datetime | None = None
) -> str | None:
    """The reason the date cannot be booked, or None when it is free."""
    found = availability_for_range(tenant=tenant, start=day, end=day, now=now)
    return found[0].reason if found else None


def booking_get(*, tenant: Tenant, booking_id: uuid.UUID | str) -> Booking:
    """The tenant's booking with its package and add-on lines (three
    queries), else BookingNotFound — also for another tenant's id or a
    malformed one."""
    try:
        booking_id = uuid.UUID(str(booking_id))
    except ValueError as exc:
        raise BookingNotFound() from exc
    booking = (
        Booking.objects.filter(tenant=tenant, pk=booking_id)
        .select_related("package", "terms_version")
        .prefetch_related("add_on_lines")
        .first()
    )
    if booking is None:
        raise BookingNotFound()
    return booking


def booking_list(*, tenant: Tenant) -> QuerySet[Booking]:
    """Newest first."""
    return Booking.objects.filter(tenant=tenant).order_by("-created_at", "-pk")


def blackout_date_list(
    *, tenant: Tenant, start: dt.date | None = None, end: dt.date | None = None
) -> list[BlackoutDate]:
    queryset = BlackoutDate.objects.filter(tenant=tenant)
    if start is not None:
        queryset = queryset.filter(date__gte=start)
    if end is not None:
        queryset = queryset.filter(date__lte=end)
    return list(queryset.order_by("date"))


# --- the admin calendar -----------------------------------------------------------
#
def reconcile_last_run() -> ReconcileRun | None:
    """The newest `reconcile_stripe` run (ops: superusers only). One query."""
    return ReconcileRun.objects.select_related("tenant").order_by("-started_at", "-id").first()


@dataclass(frozen=True)
class CalendarDay:
    date: dt.date
    in_month: bool
    past: bool
    today: bool
    booking: Booking | None  # confirmed, or a hold that has not lapsed
    blackout: BlackoutDate | None
    # window_refusal's answer: "past", "too_soon", "too_far" or None (open).
    window: str | None = None

    @property
    def state(self) -> str:
        """One word for what the day is, most important first (REASONS'
        precedence: a booking or blackout outranks the booking window)."""
        if self.booking is not None:
            return "booked" if self.booking.status == Booking.Status.CONFIRMED else "held"
        if self.blackout is not None:
            return "blackout"
        if self.past:
            return "past"
        return self.window or "free"


def booking_calendar_month(
    *, tenant: Tenant, month: dt.date, now: dt.datetime | None = None
) -> list[list[CalendarDay]]:
    """The month's weeks (Monday first, padded with the neighbouring months'
    days) with each day's occupying booking, blackout and place in the
    tenant's booking window (too soon, too far). Two queries."""
    now = now or timezone.now()
    today = tenant_today(tenant=tenant, now=now)
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month)
    first, last = weeks[0][0], weeks[-1][-1]
    bookings = {
        booking.event_date: booking
        for booking in occupying_bookings(tenant=tenant, now=now).filter(
            event_date__range=(first, last)
        )
    }
    blackouts = {
        blackout.date: blackout
        for blackout in BlackoutDate.objects.filter(tenant=tenant, date__range=(first, last))
    }
    return [
        [
            CalendarDay(
                date=day,
                in_month=day.month == month.month,
                past=day < today,
                today=day == today,
                booking=bookings.get(day),
                blackout=blackouts.get(day),
                window=window_refusal(tenant=tenant, day=day, today=today),
            )
            for day in week
        ]
        for week in weeks
    ]


def booking_refund_preview(*, booking: Booking, refund_cents: int | None) -> money.RefundPreview:
    """What refunding `refund_cents` of the booking (None: staff's full
    refund, money.staff_full_refund_cents) would do, from its ledger as it
    is now (money.refund_preview). A preview: the cancel or move decides
    again under the booking's lock. Two queries."""
    if refund_cents is None:
        refund_cents = money.staff_full_refund_cents(
            refundable_cents=refundable_now(booking),
            deposit_cents=booking.deposit_cents,
            deposit_refundable=booking.payment_plan.get("deposit_refundable") is not False,
        )
    payments = list(
        BookingPayment.objects.filter(
            tenant=booking.tenant_id, booking=booking, status=BookingPayment.Status.SUCCEEDED
        ).order_by("-succeeded_at", "-id")
    )
    taken = dict(
        BookingRefund.objects.filter(
            tenant=booking.tenant_id,
            booking=booking,
            status__in=[*BookingRefund.RESERVING_STATUSES, BookingRefund.Status.SUCCEEDED],
        )
        .values_list("payment")
        .annotate(total=Sum("amount_cents"))
        .values_list("payment", "total")
    )
    return money.refund_preview(
        refund_cents=refund_cents,
        payments=[
            money.LedgerPayment(
                amount_cents=payment.amount_cents,
                fee_cents=payment.application_fee_cents,
                refunded_cents=taken.get(payment.pk, 0),
                refundable=bool(payment.stripe_payment_intent_id),
            )
            for payment in payments
        ],
    )


# --- money figures (issue 13), for the API, the admin and the backoffice -------


def booking_balance_due_cents(booking: Booking) -> int:
    """What the couple still owes (money.balance_due_cents)."""
    return money.balance_due_cents(
        amount_cents=booking.amount_cents,
        paid_cents=booking.paid_cents,
        active=booking.status == Booking.Status.CONFIRMED,
    )


def _of(tenant: Tenant | None) -> dict:
    return {"tenant": tenant} if tenant is not None else {}


def balances_upcoming(*, tenant: Tenant | None, today: dt.date, days: int = 30) -> list[Booking]:
    """Confirmed bookings whose balance is scheduled within `days` (all
    tenants' for None)."""
    return list(
        Booking.objects.filter(
            **_of(tenant),
            status=Booking.Status.CONFIRMED,
            balance_state=Booking.BalanceState.SCHEDULED,
            balance_due_on__gte=today,
            balance_due_on__lte=today + dt.timedelta(days=days),
        )
        .select_related("package", "tenant")
        .order_by("balance_due_on", "event_date")
    )


def balances_overdue(*, tenant: Tenant | None, today: dt.date) -> list[Booking]:
    """Confirmed bookings whose balance charge failed (the couple has a pay
    link), or whose due date passed without a charge: staff decide about
    these (keep waiting, record an offline payment, or cancel)."""
    return list(
        Booking.objects.filter(
            Q(balance_state=Booking.BalanceState.FAILED)
            | Q(balance_state=Booking.BalanceState.SCHEDULED, balance_due_on__lt=today),
            **_of(tenant),
            status=Booking.Status.CONFIRMED,
        )
        .select_related("package", "tenant")
        .order_by("balance_due_on", "event_date")
    )


def balance_charges_failed(*, tenant: Tenant | None, limit: int = 20) -> list[BookingPayment]:
    """The latest failed off-session balance charges, with Stripe's reason."""
    return list(
        BookingPayment.objects.filter(
            **_of(tenant),
            kind=BookingPayment.Kind.BALANCE,
            status=BookingPayment.Status.FAILED,
        )
        .select_related("booking", "tenant")
        .order_by("-updated_at", "-id")[:limit]
    )


@dataclass(frozen=True)
class BalancesDashboard:
    upcoming: list[Booking]
    overdue: list[Booking]
    failed_charges: list[BookingPayment]


def dashboard_balances(*, tenant: Tenant | None, today: dt.date) -> BalancesDashboard:
    """The dashboard's balances section. Three queries."""
    return BalancesDashboard(
        upcoming=balances_upcoming(tenant=tenant, today=today),
        overdue=balances_overdue(tenant=tenant, today=today),
        failed_charges=balance_charges_failed(tenant=tenant),
    )


def booking_ledger(*, booking: Booking) -> list[BookingPayment]:
    """A booking's payments, oldest first, each with its refunds prefetched."""
    return list(
        BookingPayment.objects.filter(tenant=booking.tenant_id, booking=booking)
        .prefetch_related("refunds")
        .order_by("created_at", "id")
    )
