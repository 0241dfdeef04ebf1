"""Booking reads: availability, bookings, blackout dates.

Preconditions: run inside the tenant's scope (or `scopes_disabled()`); every
query still filters `tenant=` explicitly.

Availability costs two queries whatever the range or the number of bookings:
the active bookings in the range (index bookings_tenant_date_idx) and the
blackout dates in the range (the unique (tenant, date) index). "Today" is the
tenant's today in its own time zone.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet
from django.utils import timezone

from bookings.errors import BookingNotFound
from bookings.models import BlackoutDate, Booking
from tenants.models import Tenant

# When several reasons apply to one date, the first listed wins: a past date
# is "past" even if it was booked.
REASONS = ("past", "booked", "held", "blackout", "too_soon", "too_far")
MAX_RANGE_DAYS = 366


@dataclass(frozen=True)
class UnavailableDate:
    date: dt.date
    reason: str


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
    """Bookings that occupy their date: confirmed, or held with a hold that
    has not lapsed (a lapsed hold never blocks a date, whether or not
    `expire_holds` has marked it expired yet)."""
    return Booking.objects.filter(tenant=tenant).filter(
        Q(status=Booking.Status.CONFIRMED) | Q(status=Booking.Status.HELD, hold_expires_at__gt=now)
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
    day = start
    while day <= end:
        reason = _reason(
            tenant=tenant, day=day, today=today, occupied=occupied, blackouts=blackouts
        )
        if reason:
            unavailable.append(UnavailableDate(day, reason))
        day += dt.timedelta(days=1)
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
        .select_related("package")
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
