"""The staff dashboard (the admin index): numbers against known data, the
tenant boundary, and a fixed number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from backoffice.selectors import MonthRevenue, dashboard_get
from bookings.models import Booking
from tests.factories import BookingFactory, PackageFactory, TenantFactory
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db

# A fixed "now" makes month boundaries and time left exact.
NOW = dt.datetime(2026, 11, 20, 15, 0, tzinfo=dt.UTC)
NOV, DEC = dt.date(2026, 11, 1), dt.date(2026, 12, 1)


def confirmed(
    tenant,
    day,
    *,
    amount,
    currency="usd",
    refunded=0,
    commission=None,
    commission_refunded=0,
    couple="Ada & Grace",
):
    return BookingFactory(
        tenant=tenant,
        event_date=day,
        status=Booking.Status.CONFIRMED,
        amount_cents=amount,
        paid_cents=amount,
        currency=currency,
        refunded_cents=refunded,
        commission_cents=amount // 10 if commission is None else commission,
        commission_refunded_cents=commission_refunded,
        couple_name=couple,
    )


def held(tenant, day, *, expires_at, couple="Held Couple"):
    return BookingFactory(
        tenant=tenant,
        event_date=day,
        status=Booking.Status.HELD,
        hold_expires_at=expires_at,
        couple_name=couple,
    )


@pytest.fixture
def known_data(tenant, other_tenant, unscoped):
    """Alpha: November and December weddings in two currencies, live and
    lapsed holds, failed and processed webhooks. Beta: the same kinds of
    rows, which Alpha's staff must never see."""
    rows = {
        "nov_usd": confirmed(
            tenant,
            dt.date(2026, 11, 5),
            amount=100_000,
            refunded=20_000,
            commission=10_000,
            commission_refunded=2_000,
        ),
        "nov_usd_2": confirmed(tenant, dt.date(2026, 11, 28), amount=50_000, commission=5_000),
        "nov_eur": confirmed(
            tenant, dt.date(2026, 11, 29), amount=70_000, currency="eur", commission=7_000
        ),
        "dec_usd": confirmed(tenant, dt.date(2026, 12, 31), amount=200_000, commission=20_000),
        # Outside both months: January, and October.
        "jan_usd": confirmed(tenant, dt.date(2027, 1, 19), amount=999_000),
        "oct_usd": confirmed(tenant, dt.date(2026, 10, 31), amount=888_000),
        # Not confirmed: never revenue.
        "canceled": BookingFactory(
            tenant=tenant,
            event_date=dt.date(2026, 11, 10),
            status=Booking.Status.CANCELED,
            amount_cents=777_000,
        ),
        "hold_soon": held(tenant, dt.date(2026, 12, 10), expires_at=NOW + dt.timedelta(minutes=25)),
        "hold_later": held(tenant, dt.date(2026, 12, 11), expires_at=NOW + dt.timedelta(hours=3)),
        "hold_lapsed": held(
            tenant, dt.date(2026, 12, 12), expires_at=NOW - dt.timedelta(minutes=1)
        ),
        "theirs_nov": confirmed(
            other_tenant, dt.date(2026, 11, 6), amount=555_000, couple="Their Couple"
        ),
        "theirs_hold": held(
            other_tenant,
            dt.date(2026, 12, 10),
            expires_at=NOW + dt.timedelta(minutes=5),
            couple="Their Hold",
        ),
    }
    for n, (owner, status) in enumerate(
        [
            (tenant, "failed"),
            (tenant, "failed"),
            (tenant, "processed"),
            (other_tenant, "failed"),
            (None, "failed"),
        ]
    ):
        StripeEvent.objects.create(
            event_id=f"evt_{n}",
            type="checkout.session.completed",
            tenant=owner,
            status=status,
            payload={},
            attempts=n + 1,
        )
    return rows


def test_dashboard_numbers_for_one_tenant(tenant, known_data, unscoped):
    dashboard = dashboard_get(tenant=tenant, now=NOW)

    assert dashboard.today == dt.date(2026, 11, 20)
    assert dashboard.months == [NOV, DEC]
    # Next 60 days: 2026-11-20 .. 2027-01-19 inclusive; past and canceled ones out.
    assert [b.pk for b in dashboard.upcoming] == [
        known_data["nov_usd_2"].pk,
        known_data["nov_eur"].pk,
        known_data["dec_usd"].pk,
        known_data["jan_usd"].pk,
    ]
    assert [(h.booking.pk, h.time_left) for h in dashboard.holds] == [
        (known_data["hold_soon"].pk, dt.timedelta(minutes=25)),
        (known_data["hold_later"].pk, dt.timedelta(hours=3)),
    ]
    assert dashboard.revenue == [
        MonthRevenue(
            month=NOV, currency="eur", bookings=1, revenue_cents=70_000, commission_cents=7_000
        ),
        MonthRevenue(
            month=NOV, currency="usd", bookings=2, revenue_cents=130_000, commission_cents=13_000
        ),
        MonthRevenue(
            month=DEC, currency="usd", bookings=1, revenue_cents=200_000, commission_cents=20_000
        ),
    ]
    assert dashboard.failed_webhooks == 2
    assert [e.event_id for e in dashboard.failed_webhook_latest] == ["evt_1", "evt_0"]


def test_dashboard_today_and_months_follow_the_tenant_time_zone(unscoped):
    # 2026-11-30 23:30 UTC is already 1 December in Auckland.
    tenant = TenantFactory(timezone="Pacific/Auckland")
    confirmed(tenant, dt.date(2026, 12, 1), amount=10_000, commission=1_000)
    confirmed(tenant, dt.date(2026, 11, 30), amount=30_000, commission=3_000)

    dashboard = dashboard_get(tenant=tenant, now=dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC))

    assert dashboard.today == dt.date(2026, 12, 1)
    assert dashboard.months == [DEC, dt.date(2027, 1, 1)]
    assert [(r.month, r.revenue_cents) for r in dashboard.revenue] == [(DEC, 10_000)]
    assert [b.event_date for b in dashboard.upcoming] == [dt.date(2026, 12, 1)]


def test_dashboard_across_tenants_for_superusers(known_data, unscoped):
    dashboard = dashboard_get(tenant=None, now=NOW)

    assert [h.booking.couple_name for h in dashboard.holds] == [
        "Their Hold",
        "Held Couple",
        "Held Couple",
    ]
    assert [(r.month, r.currency, r.bookings, r.revenue_cents) for r in dashboard.revenue] == [
        (NOV, "eur", 1, 70_000),
        (NOV, "usd", 3, 685_000),
        (DEC, "usd", 1, 200_000),
    ]
    assert dashboard.failed_webhooks == 4


@pytest.fixture
def live_data(tenant, other_tenant, unscoped):
    """Rows relative to the real clock, for the pages (which use it)."""
    now = timezone.now()
    soon = now.date() + dt.timedelta(days=10)
    for n, (owner, status) in enumerate(
        [(tenant, "failed"), (tenant, "failed"), (other_tenant, "failed")]
    ):
        StripeEvent.objects.create(
            event_id=f"evt_live_{n}",
            type="charge.refunded",
            tenant=owner,
            status=status,
            payload={},
        )
    return {
        "mine": confirmed(tenant, soon, amount=100_000, couple="My Couple"),
        "my_hold": held(
            tenant,
            soon + dt.timedelta(days=1),
            expires_at=now + dt.timedelta(minutes=25),
            couple="My Hold",
        ),
        "theirs": confirmed(other_tenant, soon, amount=555_000, couple="Their Couple"),
        "their_hold": held(
            other_tenant,
            soon + dt.timedelta(days=1),
            expires_at=now + dt.timedelta(minutes=25),
            couple="Their Hold",
        ),
    }


def test_staff_dashboard_page_shows_only_their_tenant(staff_client, live_data, unscoped):
    page = staff_client.get("/admin/")

    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="altar-dashboard"' in html
    assert "My Couple" in html and "My Hold" in html
    assert "Their Couple" not in html and "Their Hold" not in html
    assert "5,550.00" not in html
    assert 'href="/admin/bookings/booking/calendar/"' in html
    assert "/admin/webhooks/stripeevent/?status__exact=failed" in html
    assert "2 failed events need attention" in html
    assert "Holds awaiting payment (1)" in html
    assert "Confirmed weddings in the next 60 days (1)" in html
    assert html.count(f'href="/admin/bookings/booking/{live_data["my_hold"].pk}/change/"') == 1


def test_staff_dashboard_page_shows_known_money_this_month(staff_client, tenant, unscoped):
    # Real "now": put the weddings in the current and next month, tenant's time (UTC).
    today = timezone.now().date()
    this_month = today.replace(day=1)
    next_month = (this_month + dt.timedelta(days=32)).replace(day=1)
    confirmed(tenant, this_month, amount=123_456, commission=12_346)
    confirmed(
        tenant,
        this_month + dt.timedelta(days=1),
        amount=10_000,
        currency="eur",
        commission=1_000,
        refunded=2_500,
        commission_refunded=250,
    )
    confirmed(tenant, next_month, amount=50_000, commission=5_000)

    html = staff_client.get("/admin/").content.decode()

    def revenue_row(month, currency, weddings, revenue, commission):
        return (
            f'<th scope="row">{month:%B %Y}</th><td data-label="Currency">{currency}</td>'
            f'<td data-label="Weddings">{weddings}</td><td data-label="Revenue">{revenue}</td>'
            f'<td data-label="Platform commission">{commission}</td>'
        )

    assert revenue_row(this_month, "EUR", 1, "75.00 EUR", "7.50 EUR") in html
    assert revenue_row(this_month, "USD", 1, "1,234.56 USD", "123.46 USD") in html
    assert revenue_row(next_month, "USD", 1, "500.00 USD", "50.00 USD") in html


def test_superuser_dashboard_all_tenants_and_switch_to_one(
    superuser_client, tenant, live_data, unscoped
):
    everything = superuser_client.get("/admin/").content.decode()
    one = superuser_client.get("/admin/", {"tenant": "beta-weddings"}).content.decode()

    assert "All tenants" in everything
    assert "Their Hold" in everything and "My Hold" in everything
    assert '<option value="beta-weddings">Beta Weddings</option>' in everything
    assert "Their Hold" in one and "My Hold" not in one
    assert '<option value="beta-weddings" selected>Beta Weddings</option>' in one
    assert "/admin/bookings/booking/calendar/?tenant=beta-weddings" in one


def test_staff_cannot_switch_the_dashboard_to_another_tenant(staff_client, live_data, unscoped):
    html = staff_client.get("/admin/", {"tenant": "beta-weddings"}).content.decode()

    assert "Their Hold" not in html and "My Hold" in html
    assert "<select" not in html


def test_dashboard_costs_a_fixed_number_of_queries(staff_client, tenant, unscoped):
    def count_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            assert staff_client.get("/admin/").status_code == 200
        return len(captured)

    package = PackageFactory(tenant=tenant)
    confirmed(tenant, timezone.now().date(), amount=1_000)
    few = count_queries()
    for n in range(1, 8):
        BookingFactory(
            tenant=tenant, package=package, event_date=timezone.now().date() + dt.timedelta(days=n)
        )
        BookingFactory(
            tenant=tenant,
            package=package,
            status=Booking.Status.HELD,
            event_date=timezone.now().date() + dt.timedelta(days=n + 20),
        )
    many = count_queries()

    assert few == many
