"""A staff member's private calendar feed (iCalendar) of the tenant's
bookings and live holds, for Google or Apple Calendar to subscribe to.

The URL carries a secret (only its hash is stored); the staff member issues
a new one (the old URL dies) or revokes it from "Calendar feed" in the
admin. The feed names the couple and package, so it answers only while the
person's membership is accepted and their login active; an unknown or
revoked secret is a plain 404.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar, Event

from bookings.models import Booking
from bookings.selectors import occupying_bookings
from tenants.keys import hash_key
from tenants.models import TenantMembership
from tenants.scoping import scopes_disabled, tenant_scope
from tenants.services import calendar_feed_issue, calendar_feed_revoke

# How far back the feed reaches: recent weddings stay visible for a month.
PAST_DAYS = 31


def feed_url(secret: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("backoffice-calendar-feed", args=[secret])


def calendar_feed(request: HttpRequest, secret: str) -> HttpResponse:
    with scopes_disabled():
        membership = (
            TenantMembership.objects.select_related("tenant", "user")
            .filter(
                calendar_feed_hash=hash_key(secret),
                status=TenantMembership.Status.ACCEPTED,
                user__is_active=True,
            )
            .first()
        )
    if membership is None or not secret:
        raise Http404("Not found.")
    tenant = membership.tenant
    now = timezone.now()
    with tenant_scope(tenant):
        bookings = list(
            occupying_bookings(tenant=tenant, now=now)
            .filter(event_date__gte=timezone.localdate() - dt.timedelta(days=PAST_DAYS))
            .select_related("package")
            .order_by("event_date")
        )
    calendar = Calendar()
    calendar.add("prodid", "-//Altar//Back office calendar//EN")
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", f"{tenant.name} — weddings")
    admin_base = settings.PUBLIC_BASE_URL.rstrip("/")
    for booking in bookings:
        held = booking.status == Booking.Status.HELD
        event = Event()
        event.add("uid", f"{booking.pk}@altar")
        event.add("dtstamp", now)
        event.add("dtstart", booking.event_date)
        event.add("dtend", booking.event_date + dt.timedelta(days=1))
        event.add(
            "summary",
            f"{'On hold: ' if held else ''}{booking.couple_name} — {booking.package.title}",
        )
        event.add("status", "TENTATIVE" if held else "CONFIRMED")
        event.add("url", admin_base + reverse("admin:bookings_booking_change", args=[booking.pk]))
        calendar.add_component(event)
    response = HttpResponse(calendar.to_ical(), content_type="text/calendar; charset=utf-8")
    response["Cache-Control"] = "private, max-age=300"
    return response


def calendar_feed_admin_view(request: HttpRequest) -> HttpResponse:
    """/admin/calendar-feed/: issue (or replace) and revoke one's own feed."""
    membership: TenantMembership | None = getattr(request, "membership", None)
    if membership is None:
        raise Http404("Not found.")
    url = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            calendar_feed_revoke(membership=membership)
            return HttpResponseRedirect(reverse("admin:backoffice_calendar_feed"))
        url = feed_url(calendar_feed_issue(membership=membership))
        membership.refresh_from_db(fields=["calendar_feed_hash"])
    context = {
        **admin.site.each_context(request),
        "title": "Your calendar feed",
        "has_feed": bool(membership.calendar_feed_hash),
        "feed_url": url,
    }
    return TemplateResponse(request, "backoffice/calendar_feed.html", context)
