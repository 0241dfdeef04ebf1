"""The staff dashboard's reads (the admin index): upcoming weddings, live
holds, revenue and commission by month, failed Stripe webhooks, payments
needing attention. Here, on the top floor, because they read bookings and
webhooks alike (bookings must not import webhooks).

`tenant=None` means every tenant: only for superusers, whose admin requests
run with scopes disabled. Each function costs a fixed number of queries
whatever the number of bookings, so the dashboard does too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from bookings.models import Booking, BookingDispute, PaymentReview
from bookings.selectors import tenant_today
from tenants.models import Tenant
from webhooks.models import StripeEvent

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
