"""Booking reads: availability, bookings, blackout dates.

Preconditions: run inside the tenant's scope (or `scopes_disabled()`); every
query still filters `tenant=` explicitly.

Availability costs two queries whatever the range or the number of bookings:
the active bookings in the range (index bookings_tenant_date_idx) and the
blackout dates in the range (the unique (tenant, date) index). "Today" is the
tenant's today in its own time zone.
"""

from __future__ import annotations

import calendar
import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from bookings import money
from bookings.errors import BookingNotFound
from bookings.models import (
    BlackoutDate,
    Booking,
    BookingDispute,
    BookingPayment,
    PaymentReview,
    ReconcileRun,
)
from bookings.refunds import refundable_now, reserved_cents
from tenants.models import Tenant
from webhooks.models import StripeEvent

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


def availability_for_range(
    *, tenant: Tenant, start: dt.date, end: dt.date, now: dt.datetime | None = None
) -> list[UnavailableDate]:
    """Every unavailable date in [start, end] (inclusive) with its reason, in
    date order. Two queries. The caller bounds the range (MAX_RANGE_DAYS)."""
    now = now or timezone.now()
    today = tenant_today(tenant=tenant, now=now)
    occupied = dict(
        occupying_bookings(tenant=tenant, now=now)
        .filter(event_date__range=(start, end))
        .values_list("event_date", "status")
    )
    blackouts = set(
        BlackoutDate.objects.filter(tenant=tenant, date__range=(start, end)).values_list(
            "date", flat=True
        )
    )
    unavailable = []
    # Counted, not stepped past `end`: the day after 9999-12-31 does not exist.
    for offset in range((end - start).days + 1):
        day = start + dt.timedelta(days=offset)
        reason = _reason(
            tenant=tenant, day=day, today=today, occupied=occupied, blackouts=blackouts
        )
        if reason:
            unavailable.append(UnavailableDate(day, reason))
    return unavailable


def availability_for_date(
    *, tenant: Tenant, day: dt.date, now: dt.datetime | None = None
) -> str | None:
    """The reason the date cannot be booked, or None when it is free."""
    found = availability_for_range(tenant=tenant, start=day, end=day, now=now)
    return found[0].reason if found else None


def _reason(
    *,
    tenant: Tenant,
    day: dt.date,
    today: dt.date,
    occupied: dict[dt.date, str],
    blackouts: set[dt.date],
) -> str | None:
    window = window_refusal(tenant=tenant, day=day, today=today)
    if window == "past":
        return window
    if day in occupied:
        return "booked" if occupied[day] == Booking.Status.CONFIRMED else "held"
    if day in blackouts:
        return "blackout"
    return window


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


# --- the admin dashboard and calendar -------------------------------------------
#
# `tenant=None` means every tenant: only for superusers, whose admin requests
# run with scopes disabled. Each function costs a fixed number of queries
# whatever the number of bookings, so the dashboard does too.

UPCOMING_DAYS = 60


@dataclass(frozen=True)
class HeldBooking:
    booking: Booking
    time_left: dt.timedelta


@dataclass(frozen=True)
class MonthRevenue:
    """Revenue of one month, one currency: confirmed bookings whose wedding
    (event_date) falls in the month; revenue = amount - refunded, commission
    = commission - commission reversed."""

    month: dt.date  # the first day of the month
    currency: str
    bookings: int
    revenue_cents: int
    commission_cents: int


@dataclass(frozen=True)
class Dashboard:
    today: dt.date
    upcoming: list[Booking]
    holds: list[HeldBooking]
    months: list[dt.date]
    revenue: list[MonthRevenue]
    failed_webhooks: int
    failed_webhook_latest: list[StripeEvent]
    attention: Attention


@dataclass(frozen=True)
class Attention:
    """Money that needs a person: payments that did not match their booking
    (open reviews), open disputes, delayed payments still settling, and
    Connect accounts that disconnected the platform."""

    payment_reviews: list[PaymentReview]
    disputes: list[BookingDispute]
    processing: list[Booking]
    deauthorized_tenants: list[Tenant]

    @property
    def empty(self) -> bool:
        return not (
            self.payment_reviews or self.disputes or self.processing or self.deauthorized_tenants
        )


def _for_tenant(queryset: QuerySet, tenant: Tenant | None) -> QuerySet:
    return queryset if tenant is None else queryset.filter(tenant=tenant)


def _month_start(day: dt.date, months_later: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + months_later
    return dt.date(index // 12, index % 12 + 1, 1)


def dashboard_today(*, tenant: Tenant | None, now: dt.datetime) -> dt.date:
    """The tenant's today; across tenants, UTC's (stated on the page)."""
    if tenant is None:
        return now.astimezone(dt.UTC).date()
    return tenant_today(tenant=tenant, now=now)


def dashboard_upcoming_weddings(
    *, tenant: Tenant | None, today: dt.date, days: int = UPCOMING_DAYS
) -> list[Booking]:
    """Confirmed weddings from today to today + `days`, soonest first. One query."""
    queryset = Booking.objects.filter(
        status=Booking.Status.CONFIRMED,
        event_date__range=(today, today + dt.timedelta(days=days)),
    )
    return list(
        _for_tenant(queryset, tenant)
        .select_related("package", "tenant")
        .order_by("event_date", "created_at")
    )


def dashboard_live_holds(*, tenant: Tenant | None, now: dt.datetime) -> list[HeldBooking]:
    """Holds still awaiting payment (lapsed ones excluded, whether or not
    `expire_holds` has run), the one lapsing first on top. One query."""
    queryset = Booking.objects.filter(status=Booking.Status.HELD, hold_expires_at__gt=now)
    bookings = _for_tenant(queryset, tenant).select_related("package", "tenant")
    return [
        HeldBooking(booking=booking, time_left=booking.hold_expires_at - now)
        for booking in bookings.order_by("hold_expires_at", "created_at")
    ]


def dashboard_revenue(*, tenant: Tenant | None, months: list[dt.date]) -> list[MonthRevenue]:
    """Per month (each given as its first day) and currency; months with
    nothing are left out. One query."""
    if not months:
        return []
    end = _month_start(max(months), 1)
    queryset = Booking.objects.filter(
        status=Booking.Status.CONFIRMED, event_date__gte=min(months), event_date__lt=end
    )
    rows = (
        _for_tenant(queryset, tenant)
        .annotate(month=TruncMonth("event_date"))
        .values("month", "currency")
        .annotate(
            bookings=Count("pk"),
            revenue_cents=Sum(F("amount_cents") - F("refunded_cents")),
            commission_cents=Sum(F("commission_cents") - F("commission_refunded_cents")),
        )
        .order_by("month", "currency")
    )
    return [
        MonthRevenue(
            month=row["month"],
            currency=row["currency"],
            bookings=row["bookings"],
            revenue_cents=row["revenue_cents"],
            commission_cents=row["commission_cents"],
        )
        for row in rows
        if row["month"] in months
    ]


def dashboard_failed_webhooks(
    *, tenant: Tenant | None, latest: int = 5
) -> tuple[int, list[StripeEvent]]:
    """Stripe events whose processing failed (they need a replay or a fix):
    how many, and the most recent few. Two queries."""
    queryset = _for_tenant(StripeEvent.objects.filter(status=StripeEvent.Status.FAILED), tenant)
    return queryset.count(), list(queryset.order_by("-received_at", "-id")[:latest])


def dashboard_attention(*, tenant: Tenant | None, latest: int = 20) -> Attention:
    """What needs a person (see Attention), the oldest first, at most
    `latest` of each. Four queries."""
    reviews = PaymentReview.objects.filter(resolved_at__isnull=True)
    disputes = BookingDispute.objects.exclude(status__in=BookingDispute.CLOSED_STATUSES)
    processing = Booking.objects.filter(status=Booking.Status.PAYMENT_PROCESSING)
    deauthorized = Tenant.objects.filter(stripe_account_deauthorized_at__isnull=False)
    if tenant is not None:
        deauthorized = deauthorized.filter(pk=tenant.pk)
    return Attention(
        payment_reviews=list(
            _for_tenant(reviews, tenant)
            .select_related("booking", "tenant")
            .order_by("created_at", "id")[:latest]
        ),
        disputes=list(
            _for_tenant(disputes, tenant)
            .select_related("booking", "tenant")
            .order_by("created_at", "id")[:latest]
        ),
        processing=list(
            _for_tenant(processing, tenant)
            .select_related("package", "tenant")
            .order_by("event_date", "created_at")[:latest]
        ),
        deauthorized_tenants=list(deauthorized.order_by("slug")[:latest]),
    )


def dashboard_get(*, tenant: Tenant | None, now: dt.datetime | None = None) -> Dashboard:
    """Everything the admin index shows. Nine queries, whatever the data."""
    now = now or timezone.now()
    today = dashboard_today(tenant=tenant, now=now)
    months = [_month_start(today), _month_start(today, 1)]
    failed, failed_latest = dashboard_failed_webhooks(tenant=tenant)
    return Dashboard(
        today=today,
        upcoming=dashboard_upcoming_weddings(tenant=tenant, today=today),
        holds=dashboard_live_holds(tenant=tenant, now=now),
        months=months,
        revenue=dashboard_revenue(tenant=tenant, months=months),
        failed_webhooks=failed,
        failed_webhook_latest=failed_latest,
        attention=dashboard_attention(tenant=tenant),
    )


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

    @property
    def state(self) -> str:
        """One word for what the day is, most important first."""
        if self.booking is not None:
            return "booked" if self.booking.status == Booking.Status.CONFIRMED else "held"
        if self.blackout is not None:
            return "blackout"
        return "past" if self.past else "free"


def booking_calendar_month(
    *, tenant: Tenant, month: dt.date, now: dt.datetime | None = None
) -> list[list[CalendarDay]]:
    """The month's weeks (Monday first, padded with the neighbouring months'
    days) with each day's occupying booking and blackout. Two queries."""
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
            )
            for day in week
        ]
        for week in weeks
    ]


@dataclass(frozen=True)
class RefundPreview:
    refund_cents: int
    commission_reversed_cents: int  # by this refund
    refunded_after_cents: int
    commission_refunded_after_cents: int


def booking_refund_preview(*, booking: Booking, refund_cents: int | None) -> RefundPreview:
    """What a staff cancel refunding `refund_cents` (None: all that is
    left) would do to the money once its refund and those already in flight
    succeed: the commission given back follows bookings.money, as the ledger
    derives it."""
    refundable = refundable_now(booking)
    amount = refundable if refund_cents is None else refund_cents
    refunded_after = min(
        booking.paid_cents, booking.refunded_cents + reserved_cents(booking) + amount
    )
    commission_after = money.commission_refunded_for(
        commission_cents=booking.commission_cents,
        refunded_cents=refunded_after,
        paid_cents=booking.paid_cents,
    )
    return RefundPreview(
        refund_cents=amount,
        commission_reversed_cents=commission_after - booking.commission_refunded_cents,
        refunded_after_cents=refunded_after,
        commission_refunded_after_cents=commission_after,
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
