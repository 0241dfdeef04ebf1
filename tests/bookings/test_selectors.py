"""Booking lookups: tenant-scoped, newest first."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bookings.errors import BookingNotFound
from bookings.models import Booking
from bookings.selectors import booking_get, booking_list
from tenants.scoping import tenant_scope
from tests.factories import BookingFactory

pytestmark = pytest.mark.django_db


def test_booking_list_is_the_tenants_own_newest_first(tenant, other_tenant, unscoped):
    now = timezone.now()
    old, new, middle = (BookingFactory(tenant=tenant) for _ in range(3))
    for booking, age in ((old, 3), (new, 1), (middle, 2)):
        Booking.objects.filter(pk=booking.pk).update(created_at=now - dt.timedelta(hours=age))
    BookingFactory(tenant=other_tenant)

    with tenant_scope(tenant):
        listed = list(booking_list(tenant=tenant))

    assert listed == [new, middle, old]


def test_booking_get_hides_other_tenants_and_malformed_ids(tenant, other_tenant, unscoped):
    theirs = BookingFactory(tenant=other_tenant)

    with tenant_scope(tenant), pytest.raises(BookingNotFound):
        booking_get(tenant=tenant, booking_id=theirs.pk)
    with tenant_scope(tenant), pytest.raises(BookingNotFound):
        booking_get(tenant=tenant, booking_id="not-a-uuid")


def test_booking_queries_without_a_tenant_scope_raise(tenant):
    from django_scopes.exceptions import ScopeError

    BookingFactory.build(tenant=tenant)  # no query

    with pytest.raises(ScopeError):
        list(Booking.objects.all())
