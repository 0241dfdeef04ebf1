"""Outbox tasks of the couple-facing pages (see bookings.tasks): queued in
the transaction of the request, sent by the worker after commit."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import translation
from django_tasks import task

from bookings.manage_links import manage_link_max_age, manage_url
from bookings.models import Booking
from bookings.notifications import long_date
from tenants.models import Tenant
from tenants.scoping import tenant_scope


@task()
def manage_link_mail(*, tenant_id: int, booking_id: str, language: str) -> str:
    """A fresh "manage my booking" link, to the booking's own e-mail address."""
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant), translation.override(language or tenant.default_language):
        booking = Booking.objects.select_related("package").filter(pk=uuid.UUID(booking_id)).first()
        if booking is None:
            return "no such booking"
        context = {
            "booking": booking,
            "tenant": tenant,
            "event_date": long_date(booking.event_date),
            "manage_url": manage_url(booking.pk),
            "valid_days": manage_link_max_age().days,
        }
        subject = translation.gettext("Your link to manage your booking with %(business)s") % {
            "business": tenant.name
        }
        EmailMessage(
            subject=subject,
            body=render_to_string("storefront/emails/manage_link.txt", context),
            from_email=settings.DEFAULT_FROM_EMAIL,
            to=[booking.email],
            reply_to=[tenant.contact_email] if tenant.contact_email else None,
        ).send()
    return "sent"
