"""Writes the couple-facing pages make beyond the booking services."""

from __future__ import annotations

import uuid

from django.db import transaction

from bookings.models import Booking
from storefront.tasks import manage_link_mail
from tenants.models import Tenant


@transaction.atomic
def booking_language_set(*, tenant: Tenant, booking_id: uuid.UUID, language: str) -> None:
    """Record the language the couple booked in (their e-mails use it).
    Interim: once booking_hold takes `language=`, the checkout writes it in
    the hold's own transaction and this goes."""
    Booking.objects.filter(tenant=tenant, pk=booking_id).update(language=language)


@transaction.atomic
def manage_links_request(*, tenant: Tenant, email: str, language: str) -> int:
    """Queue one "manage my booking" e-mail per booking of `email` at this
    tenant that a couple can still manage (held, confirmed, canceled): the
    outbox sends them after commit. Returns how many were queued; the page
    answers the same whatever the number, so it reveals nothing."""
    booking_ids = list(
        Booking.objects.filter(
            tenant=tenant,
            email__iexact=email,
            status__in=[Booking.Status.HELD, Booking.Status.CONFIRMED, Booking.Status.CANCELED],
        )
        .order_by("event_date")
        .values_list("pk", flat=True)[:10]
    )
    for booking_id in booking_ids:
        manage_link_mail.enqueue(tenant_id=tenant.pk, booking_id=str(booking_id), language=language)
    return len(booking_ids)
