"""Availability: GET /api/v1/availability(?start=&end= | /{date}) and its
selectors. Every reason, the range bounds, the tenant's own "today", a fixed
query count, and tenant isolation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bookings.models import Booking
from bookings.selectors import (
    UnavailableDate,
    availability_for_date,
    availability_for_range,
    tenant_today,
)
from tests.factories import BlackoutDateFactory, BookingFactory, TenantFactory, days_ahead

pytestmark = pytest.mark.django_db

# 11:00 UTC: already the 16th in Kiritimati (UTC+14, 01:00), still the 15th in
# Pago Pago (UTC-11, 00:00). Both tenants' "today" differ by one day.
NOW = dt.datetime(2026, 6, 15, 11, 0, tzinfo=dt.UTC)
JUNE = dt.date(2026, 6, 1)


def june(day: int) -> dt.date:
    return JUNE.replace(day=day)


def iso(day: dt.date) -> str:
    return day.isoformat()


def lapsed_hold(*, tenant, event_date, now=None) -> Booking:
    return BookingFactory(
        tenant=tenant,
        event_date=event_date,
        status=Booking.Status.HELD,
        hold_expires_at=(now or timezone.now()) - dt.timedelta(seconds=1),
    )


# --- range endpoint: every reason -------------------------------------------------


def test_range_reports_every_reason_in_date_order(tenant_api, tenant, unscoped):
    tenant.min_notice_days = 2
    tenant.max_advance_days = 30
    tenant.save()
    BookingFactory(tenant=tenant, event_date=days_ahead(5), status=Booking.Status.CONFIRMED)
    BookingFactory(tenant=tenant, event_date=days_ahead(6), status=Booking.Status.HELD)
    BlackoutDateFactory(tenant=tenant, date=days_ahead(7))
    lapsed_hold(tenant=tenant, event_date=days_ahead(8))
    BookingFactory(tenant=tenant, event_date=days_ahead(9), status=Booking.Status.EXPIRED)
    BookingFactory(tenant=tenant, event_date=days_ahead(10), status=Booking.Status.CANCELED)

    response = tenant_api.get(
        "/api/v1/availability", {"start": iso(days_ahead(-1)), "end": iso(days_ahead(32))}
    )

    assert response.status_code == 200, response.json()
    assert response.json() == {
        "start": iso(days_ahead(-1)),
        "end": iso(days_ahead(32)),
        "unavailable": [
            {"date": iso(days_ahead(-1)), "reason": "past"},
            {"date": iso(days_ahead(0)), "reason": "too_soon"},
            {"date": iso(days_ahead(1)), "reason": "too_soon"},
            {"date": iso(days_ahead(5)), "reason": "booked"},
            {"date": iso(days_ahead(6)), "reason": "held"},
            {"date": iso(days_ahead(7)), "reason": "blackout"},
            {"date": iso(days_ahead(31)), "reason": "too_far"},
            {"date": iso(days_ahead(32)), "reason": "too_far"},
        ],
    }


def test_range_with_nothing_unavailable_is_an_empty_list(tenant_api, tenant):
    response = tenant_api.get(
        "/api/v1/availability", {"start": iso(days_ahead(10)), "end": iso(days_ahead(20))}
    )

    assert response.status_code == 200
    assert response.json() == {
        "start": iso(days_ahead(10)),
        "end": iso(days_ahead(20)),
        "unavailable": [],
    }


def test_lapsed_hold_does_not_occupy_its_date_before_expire_holds_runs(
    tenant_api, tenant, unscoped
):
    booking = lapsed_hold(tenant=tenant, event_date=days_ahead(40))

    response = tenant_api.get(
        "/api/v1/availability", {"start": iso(days_ahead(40)), "end": iso(days_ahead(40))}
    )

    assert response.json()["unavailable"] == []
    booking.refresh_from_db()
    assert booking.status == Booking.Status.HELD  # a read changes nothing


def test_other_tenants_bookings_and_blackouts_never_show(tenant_api, tenant, other_tenant):
    BookingFactory(tenant=other_tenant, event_date=days_ahead(40), status=Booking.Status.CONFIRMED)
    BookingFactory(tenant=other_tenant, event_date=days_ahead(41), status=Booking.Status.HELD)
    BlackoutDateFactory(tenant=other_tenant, date=days_ahead(42))

    response = tenant_api.get(
        "/api/v1/availability", {"start": iso(days_ahead(40)), "end": iso(days_ahead(42))}
    )
    single = tenant_api.get(f"/api/v1/availability/{iso(days_ahead(40))}")

    assert response.json()["unavailable"] == []
    assert single.json() == {"date": iso(days_ahead(40)), "available": True, "reason": None}


def test_other_tenant_sees_its_own_booking(other_tenant_api, tenant, other_tenant):
    BookingFactory(tenant=other_tenant, event_date=days_ahead(40), status=Booking.Status.CONFIRMED)

    response = other_tenant_api.get(f"/api/v1/availability/{iso(days_ahead(40))}")

    assert response.json() == {"date": iso(days_ahead(40)), "available": False, "reason": "booked"}


# --- range endpoint: bounds and validation ------------------------------------------


def test_range_of_exactly_366_days_inclusive_is_accepted(tenant_api, tenant):
    start = days_ahead(10)
    end = start + dt.timedelta(days=365)

    response = tenant_api.get("/api/v1/availability", {"start": iso(start), "end": iso(end)})

    assert response.status_code == 200
    assert (response.json()["start"], response.json()["end"]) == (iso(start), iso(end))


def test_range_of_a_single_day_is_accepted(tenant_api, tenant):
    response = tenant_api.get(
        "/api/v1/availability", {"start": iso(days_ahead(10)), "end": iso(days_ahead(10))}
    )

    assert response.status_code == 200
    assert response.json()["unavailable"] == []


def test_range_of_367_days_is_refused(tenant_api, tenant):
    start = days_ahead(10)
    end = start + dt.timedelta(days=366)

    response = tenant_api.get("/api/v1/availability", {"start": iso(start), "end": iso(end)})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == ["end"]
    assert [e["code"] for e in error["fields"]["end"]] == ["range_too_long"]


def test_range_ending_before_it_starts_is_refused(tenant_api, tenant):
    response = tenant_api.get(
        "/api/v1/availability", {"start": iso(days_ahead(10)), "end": iso(days_ahead(9))}
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == ["end"]
    assert [e["code"] for e in error["fields"]["end"]] == ["invalid_range"]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ({}, {"start": ["required"], "end": ["required"]}),
        ({"start": "2026-07-01"}, {"end": ["required"]}),
        ({"end": "2026-07-01"}, {"start": ["required"]}),
        ({"start": "2026-13-01", "end": "2026-07-01"}, {"start": ["invalid"]}),
        ({"start": "2026-07-01", "end": "tomorrow"}, {"end": ["invalid"]}),
        ({"start": "2026-02-30", "end": "2026-03-01"}, {"start": ["invalid"]}),
        ({"start": "", "end": ""}, {"start": ["invalid"], "end": ["invalid"]}),
    ],
)
def test_missing_or_invalid_dates_are_refused_with_their_fields(tenant_api, tenant, query, fields):
    response = tenant_api.get("/api/v1/availability", query)

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {name: [e["code"] for e in errs] for name, errs in error["fields"].items()} == fields


# --- range endpoint: fixed query count ----------------------------------------------


def test_range_costs_the_same_queries_whatever_the_range_and_bookings(
    tenant_api, tenant, django_assert_num_queries
):
    # One query resolves the key, then one availability query (active
    # bookings and blackout dates) whatever the range or the number of rows. The
    # key's first use also stamps last_used_at: make that use before measuring.
    start = days_ahead(1)
    tenant_api.get("/api/v1/availability", {"start": iso(start), "end": iso(start)})
    with django_assert_num_queries(2):
        small = tenant_api.get(
            "/api/v1/availability", {"start": iso(start), "end": iso(start + dt.timedelta(days=9))}
        )
    for n in range(100):
        BookingFactory(
            tenant=tenant,
            event_date=start + dt.timedelta(days=n * 3),
            status=Booking.Status.HELD if n % 2 else Booking.Status.CONFIRMED,
        )
    for n in range(20):
        BlackoutDateFactory(tenant=tenant, date=start + dt.timedelta(days=n * 3 + 1))

    with django_assert_num_queries(2):
        large = tenant_api.get(
            "/api/v1/availability",
            {"start": iso(start), "end": iso(start + dt.timedelta(days=365))},
        )

    assert (small.status_code, large.status_code) == (200, 200)
    assert small.json()["unavailable"] == []
    assert len(large.json()["unavailable"]) == 120


def test_range_selector_costs_one_query(tenant, unscoped, django_assert_num_queries):
    start = days_ahead(1)
    for n in range(100):
        BookingFactory(tenant=tenant, event_date=start + dt.timedelta(days=n * 3))
    for n in range(20):
        BlackoutDateFactory(tenant=tenant, date=start + dt.timedelta(days=n * 3 + 1))

    with django_assert_num_queries(1):
        found = availability_for_range(
            tenant=tenant, start=start, end=start + dt.timedelta(days=365)
        )

    assert len(found) == 120


# --- single-date endpoint ---------------------------------------------------------


def test_free_date_is_available(tenant_api, tenant):
    response = tenant_api.get(f"/api/v1/availability/{iso(days_ahead(50))}")

    assert response.status_code == 200
    assert response.json() == {"date": iso(days_ahead(50)), "available": True, "reason": None}


@pytest.mark.parametrize(
    ("status", "reason"),
    [(Booking.Status.CONFIRMED, "booked"), (Booking.Status.HELD, "held")],
)
def test_occupied_date_is_unavailable_with_its_reason(tenant_api, tenant, status, reason):
    BookingFactory(tenant=tenant, event_date=days_ahead(50), status=status)

    response = tenant_api.get(f"/api/v1/availability/{iso(days_ahead(50))}")

    assert response.json() == {"date": iso(days_ahead(50)), "available": False, "reason": reason}


@pytest.mark.parametrize(
    ("status", "hold_lapsed"),
    [
        (Booking.Status.HELD, True),
        (Booking.Status.EXPIRED, False),
        (Booking.Status.CANCELED, False),
    ],
)
def test_released_bookings_do_not_block_the_date(tenant_api, tenant, unscoped, status, hold_lapsed):
    if hold_lapsed:
        lapsed_hold(tenant=tenant, event_date=days_ahead(50))
    else:
        BookingFactory(tenant=tenant, event_date=days_ahead(50), status=status)

    response = tenant_api.get(f"/api/v1/availability/{iso(days_ahead(50))}")

    assert response.json() == {"date": iso(days_ahead(50)), "available": True, "reason": None}


def test_window_and_blackout_reasons_for_one_date(tenant_api, tenant):
    tenant.min_notice_days = 3
    tenant.max_advance_days = 100
    tenant.save()
    BlackoutDateFactory(tenant=tenant, date=days_ahead(50))

    answers = {
        n: tenant_api.get(f"/api/v1/availability/{iso(days_ahead(n))}").json()["reason"]
        for n in (-1, 0, 2, 3, 50, 100, 101)
    }

    assert answers == {
        -1: "past",
        0: "too_soon",
        2: "too_soon",
        3: None,
        50: "blackout",
        100: None,
        101: "too_far",
    }


@pytest.mark.parametrize("value", ["2026-13-01", "tomorrow", "07-01-2026", "2026-02-30"])
def test_invalid_date_in_the_path_is_refused(tenant_api, tenant, value):
    response = tenant_api.get(f"/api/v1/availability/{value}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [e["code"] for e in error["fields"]["date"]] == ["invalid"]
    assert list(error["fields"]) == ["date"]


# --- selectors: the tenant's own "today" --------------------------------------------


def test_today_is_the_tenants_today_in_its_time_zone(db):
    kiritimati = TenantFactory(timezone="Pacific/Kiritimati")
    pago_pago = TenantFactory(timezone="Pacific/Pago_Pago")

    assert tenant_today(tenant=kiritimati, now=NOW) == june(16)
    assert tenant_today(tenant=pago_pago, now=NOW) == june(15)


def test_the_same_instant_is_past_in_one_zone_and_bookable_in_another(db, unscoped):
    kiritimati = TenantFactory(timezone="Pacific/Kiritimati")
    pago_pago = TenantFactory(timezone="Pacific/Pago_Pago")

    assert availability_for_date(tenant=kiritimati, day=june(15), now=NOW) == "past"
    assert availability_for_date(tenant=kiritimati, day=june(16), now=NOW) is None
    assert availability_for_date(tenant=pago_pago, day=june(14), now=NOW) == "past"
    assert availability_for_date(tenant=pago_pago, day=june(15), now=NOW) is None


def test_booking_window_counts_from_the_tenants_today(db, unscoped):
    kiritimati = TenantFactory(
        timezone="Pacific/Kiritimati", min_notice_days=2, max_advance_days=10
    )
    pago_pago = TenantFactory(timezone="Pacific/Pago_Pago", min_notice_days=2, max_advance_days=10)

    def reasons(tenant):
        return availability_for_range(tenant=tenant, start=june(14), end=june(28), now=NOW)

    assert reasons(kiritimati) == [
        UnavailableDate(june(14), "past"),
        UnavailableDate(june(15), "past"),
        UnavailableDate(june(16), "too_soon"),
        UnavailableDate(june(17), "too_soon"),
        UnavailableDate(june(27), "too_far"),
        UnavailableDate(june(28), "too_far"),
    ]
    assert reasons(pago_pago) == [
        UnavailableDate(june(14), "past"),
        UnavailableDate(june(15), "too_soon"),
        UnavailableDate(june(16), "too_soon"),
        UnavailableDate(june(26), "too_far"),
        UnavailableDate(june(27), "too_far"),
        UnavailableDate(june(28), "too_far"),
    ]


def test_past_wins_over_booked_and_booked_over_blackout(db, unscoped):
    tenant = TenantFactory(timezone="UTC", min_notice_days=5)
    BookingFactory(tenant=tenant, event_date=june(14), status=Booking.Status.CONFIRMED)
    BookingFactory(
        tenant=tenant,
        event_date=june(16),
        status=Booking.Status.HELD,
        hold_expires_at=NOW + dt.timedelta(minutes=30),
    )
    BookingFactory(tenant=tenant, event_date=june(25), status=Booking.Status.CONFIRMED)
    BlackoutDateFactory(tenant=tenant, date=june(25))
    BlackoutDateFactory(tenant=tenant, date=june(17))

    found = availability_for_range(tenant=tenant, start=june(14), end=june(25), now=NOW)

    assert found == [
        UnavailableDate(june(14), "past"),
        UnavailableDate(june(15), "too_soon"),
        UnavailableDate(june(16), "held"),
        UnavailableDate(june(17), "blackout"),
        UnavailableDate(june(18), "too_soon"),
        UnavailableDate(june(19), "too_soon"),
        UnavailableDate(june(25), "booked"),
    ]


def test_a_hold_lapses_exactly_at_its_expiry_time(db, unscoped):
    tenant = TenantFactory(timezone="UTC")
    BookingFactory(
        tenant=tenant, event_date=june(20), status=Booking.Status.HELD, hold_expires_at=NOW
    )
    BookingFactory(
        tenant=tenant,
        event_date=june(21),
        status=Booking.Status.HELD,
        hold_expires_at=NOW + dt.timedelta(microseconds=1),
    )

    found = availability_for_range(tenant=tenant, start=june(20), end=june(21), now=NOW)

    assert found == [UnavailableDate(june(21), "held")]
