"""Blackout dates: the services staff and import_catalog use."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError

from bookings.models import BlackoutDate, Booking
from bookings.selectors import blackout_date_list
from bookings.services import blackout_date_delete, blackout_date_set, blackout_range_add
from tests.factories import BlackoutDateFactory, BookingFactory

pytestmark = pytest.mark.django_db

DAY = dt.date(2030, 5, 1)


def rows(tenant) -> list[tuple[dt.date, str]]:
    return list(
        BlackoutDate.objects.filter(tenant=tenant).order_by("date").values_list("date", "reason")
    )


def test_set_creates_a_blackout(tenant, unscoped):
    blackout = blackout_date_set(tenant=tenant, date=DAY, reason="Family wedding")

    assert (blackout.tenant, blackout.date, blackout.reason) == (tenant, DAY, "Family wedding")
    assert rows(tenant) == [(DAY, "Family wedding")]


def test_set_again_changes_the_reason_without_a_second_row(tenant, unscoped):
    first = blackout_date_set(tenant=tenant, date=DAY, reason="Holiday")

    second = blackout_date_set(tenant=tenant, date=DAY, reason="Renovation")

    assert second.pk == first.pk
    assert rows(tenant) == [(DAY, "Renovation")]


def test_set_again_with_the_same_reason_changes_nothing(tenant, unscoped):
    blackout_date_set(tenant=tenant, date=DAY, reason="Holiday")

    blackout_date_set(tenant=tenant, date=DAY, reason="Holiday")

    assert rows(tenant) == [(DAY, "Holiday")]


def test_set_keeps_existing_bookings_on_the_date(tenant, unscoped):
    booking = BookingFactory(tenant=tenant, event_date=DAY, status=Booking.Status.CONFIRMED)

    blackout_date_set(tenant=tenant, date=DAY, reason="Closed")

    booking.refresh_from_db()
    assert booking.status == Booking.Status.CONFIRMED


def test_range_add_blacks_out_every_day_inclusive(tenant, unscoped):
    added = blackout_range_add(
        tenant=tenant, start=DAY, end=DAY + dt.timedelta(days=4), reason="Away"
    )

    assert added == 5
    assert rows(tenant) == [(DAY + dt.timedelta(days=n), "Away") for n in range(5)]


def test_range_add_of_one_day(tenant, unscoped):
    assert blackout_range_add(tenant=tenant, start=DAY, end=DAY) == 1
    assert rows(tenant) == [(DAY, "")]


def test_range_add_keeps_existing_dates_and_counts_only_new_ones(tenant, unscoped):
    blackout_date_set(tenant=tenant, date=DAY + dt.timedelta(days=1), reason="Holiday")
    blackout_date_set(tenant=tenant, date=DAY + dt.timedelta(days=3), reason="Holiday")

    added = blackout_range_add(
        tenant=tenant, start=DAY, end=DAY + dt.timedelta(days=4), reason="Away"
    )

    assert added == 3
    assert rows(tenant) == [
        (DAY, "Away"),
        (DAY + dt.timedelta(days=1), "Holiday"),
        (DAY + dt.timedelta(days=2), "Away"),
        (DAY + dt.timedelta(days=3), "Holiday"),
        (DAY + dt.timedelta(days=4), "Away"),
    ]


def test_range_add_twice_adds_nothing_the_second_time(tenant, unscoped):
    blackout_range_add(tenant=tenant, start=DAY, end=DAY + dt.timedelta(days=2))

    assert blackout_range_add(tenant=tenant, start=DAY, end=DAY + dt.timedelta(days=2)) == 0
    assert len(rows(tenant)) == 3


def test_range_ending_before_it_starts_is_refused(tenant, unscoped):
    with pytest.raises(ValidationError) as refused:
        blackout_range_add(tenant=tenant, start=DAY, end=DAY - dt.timedelta(days=1))

    assert list(refused.value.error_dict) == ["end"]
    assert refused.value.error_dict["end"][0].code == "invalid"
    assert rows(tenant) == []


def test_range_add_does_not_touch_another_tenant(tenant, other_tenant, unscoped):
    BlackoutDateFactory(tenant=other_tenant, date=DAY, reason="Theirs")

    added = blackout_range_add(tenant=tenant, start=DAY, end=DAY + dt.timedelta(days=1))

    assert added == 2
    assert rows(other_tenant) == [(DAY, "Theirs")]


def test_delete_removes_only_that_date(tenant, other_tenant, unscoped):
    blackout_range_add(tenant=tenant, start=DAY, end=DAY + dt.timedelta(days=1), reason="Away")
    BlackoutDateFactory(tenant=other_tenant, date=DAY, reason="Theirs")

    blackout_date_delete(tenant=tenant, date=DAY)

    assert rows(tenant) == [(DAY + dt.timedelta(days=1), "Away")]
    assert rows(other_tenant) == [(DAY, "Theirs")]


def test_delete_of_a_date_not_blacked_out_is_a_no_op(tenant, unscoped):
    blackout_date_set(tenant=tenant, date=DAY)

    blackout_date_delete(tenant=tenant, date=DAY + dt.timedelta(days=1))

    assert rows(tenant) == [(DAY, "")]


def test_two_tenants_may_black_out_the_same_date(tenant, other_tenant, unscoped):
    blackout_date_set(tenant=tenant, date=DAY, reason="Ours")
    blackout_date_set(tenant=other_tenant, date=DAY, reason="Theirs")

    assert rows(tenant) == [(DAY, "Ours")]
    assert rows(other_tenant) == [(DAY, "Theirs")]


def test_database_refuses_a_second_row_for_the_same_tenant_and_date(tenant, unscoped):
    BlackoutDateFactory(tenant=tenant, date=DAY)

    with pytest.raises(IntegrityError) as refused:
        BlackoutDateFactory(tenant=tenant, date=DAY)

    assert refused.value.__cause__.diag.constraint_name == "bookings_blackoutdate_tenant_date_uniq"


def test_list_is_tenant_scoped_ordered_and_bounded(tenant, other_tenant, unscoped):
    for offset in (5, 0, 2, 9):
        blackout_date_set(tenant=tenant, date=DAY + dt.timedelta(days=offset))
    blackout_date_set(tenant=other_tenant, date=DAY + dt.timedelta(days=1))

    everything = blackout_date_list(tenant=tenant)
    bounded = blackout_date_list(
        tenant=tenant, start=DAY + dt.timedelta(days=2), end=DAY + dt.timedelta(days=5)
    )

    assert [b.date for b in everything] == [DAY + dt.timedelta(days=n) for n in (0, 2, 5, 9)]
    assert [b.date for b in bounded] == [DAY + dt.timedelta(days=n) for n in (2, 5)]
