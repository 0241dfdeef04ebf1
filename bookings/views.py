"""The hosted booking status page, Stripe Checkout's default success and
cancel URL: `/bookings/{id}/`. The id is an unguessable UUID, the capability
to see the page (like the public API's booking view), so the lookup is not
tenant-scoped; it shows no e-mail, phone or notes."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from bookings.models import Booking
from bookings.notifications import format_money
from bookings.services import booking_expire
from tenants.audit import actor_context
from tenants.scoping import scopes_disabled, tenant_scope

# While a hold waits for payment the page reloads itself, so a couple back
# from Checkout sees it turn confirmed when Stripe's webhook lands.
REFRESH_SECONDS = 5


def booking_status_page(request: HttpRequest, booking_id: uuid.UUID) -> HttpResponse:
    with scopes_disabled():
        booking = (
            Booking.objects.select_related("package", "tenant")
            .prefetch_related("add_on_lines")
            .filter(pk=booking_id)
            .first()
        )
        if booking is None:
            raise Http404("No such booking.")
        add_ons = list(booking.add_on_lines.all())
    if request.GET.get("checkout") == "canceled" and booking.status == Booking.Status.HELD:
        # Stripe's Cancel link only redirects here: the session would stay
        # payable until it expires. The couple left checkout, so the hold ends
        # now and the session is expired at Stripe (booking_expire queues it).
        # A GET with an effect, on purpose: Stripe's redirect is a GET, the
        # URL is the unguessable booking id, and repeating it changes nothing.
        with tenant_scope(booking.tenant), actor_context("couple", "checkout cancel page"):
            booking_expire(tenant=booking.tenant, booking_id=booking.pk, reason="couple_canceled")
            booking.refresh_from_db()
    status = booking.public_status

    def money(cents: int) -> str:
        return format_money(cents, booking.currency)

    context = {
        "booking": booking,
        "tenant": booking.tenant,
        "status": status,
        "lines": [
            (
                booking.package.title,
                money(booking.amount_cents - sum(a.price_cents for a in add_ons)),
            ),
            *((line.title, money(line.price_cents)) for line in add_ons),
        ],
        "total": money(booking.amount_cents),
        "refresh_seconds": REFRESH_SECONDS if status == Booking.Status.HELD else None,
        "returned_from": request.GET.get("checkout"),
    }
    # The hold's end is shown in the tenant's time zone (the couple's local
    # time), not the server's UTC.
    with timezone.override(booking.tenant.timezone):
        response = render(request, "bookings/status.html", context)
    response["Cache-Control"] = "no-store"
    return response
