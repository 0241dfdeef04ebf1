"""Hold limits under real concurrency (threads with their own connections,
released together): the tenant's advisory lock makes every limit exact."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from bookings.errors import DateUnavailable, HoldLimitReached
from bookings.models import Booking
from bookings.services import booking_hold
from tenants.models import Tenant
from tenants.scoping import scopes_disabled, tenant_scope
from tests.concurrency import run_together
from tests.factories import TenantFactory, days_ahead, make_catalog

pytestmark = pytest.mark.django_db(transaction=True)


def hold_call(tenant, *, day: int, email: str, address: str = "") -> Callable[[], object]:
    def call():
        with tenant_scope(tenant):
            return booking_hold(
                tenant=tenant,
                package_slug="elopement",
                add_on_slugs=[],
                event_date=days_ahead(day),
                couple_name="Ada & Grace",
                email=email,
                client_address=address,
            )

    return call


def outcome(result: object) -> str:
    if isinstance(result, Booking):
        return "held"
    if isinstance(result, HoldLimitReached):
        return f"hold_limit_reached:{result.limit}"
    if isinstance(result, DateUnavailable):
        return f"date_unavailable:{result.reason}"
    return repr(result)


def held_count(tenant) -> int:
    with scopes_disabled():
        return Booking.objects.filter(tenant=tenant, status=Booking.Status.HELD).count()


def test_concurrent_holds_from_one_email_stop_exactly_at_the_limit(settings):
    settings.HOLD_LIMIT_PER_EMAIL = 3
    tenant = TenantFactory()
    make_catalog(tenant)

    results = run_together(
        [hold_call(tenant, day=100 + n, email=f"ADA+{n}@example.com") for n in range(10)]
    )

    assert Counter(map(outcome, results)) == {"held": 3, "hold_limit_reached:email": 7}
    assert held_count(tenant) == 3


def test_concurrent_holds_from_one_address_stop_exactly_at_the_limit(settings):
    settings.HOLD_LIMIT_PER_ADDRESS = 5
    tenant = TenantFactory()
    make_catalog(tenant)

    results = run_together(
        [
            hold_call(tenant, day=100 + n, email=f"c{n}@example.com", address="203.0.113.9")
            for n in range(12)
        ]
    )

    assert Counter(map(outcome, results)) == {"held": 5, "hold_limit_reached:address": 7}
    assert held_count(tenant) == 5


def test_concurrent_holds_of_one_tenant_stop_exactly_at_its_limit():
    tenant = TenantFactory()
    Tenant.objects.filter(pk=tenant.pk).update(hold_limit_per_tenant=4)
    tenant.refresh_from_db()
    make_catalog(tenant)
    other = TenantFactory()
    make_catalog(other)

    results = run_together(
        [hold_call(tenant, day=100 + n, email=f"c{n}@example.com") for n in range(10)]
        + [hold_call(other, day=100 + n, email=f"c{n}@example.com") for n in range(3)]
    )

    assert Counter(map(outcome, results[:10])) == {"held": 4, "hold_limit_reached:tenant": 6}
    assert [outcome(r) for r in results[10:]] == ["held"] * 3
    assert held_count(tenant) == 4
    assert held_count(other) == 3


def test_limits_and_the_one_hold_per_date_rule_together():
    # 10 concurrent holds from one e-mail for 2 dates, limit 3: each date is
    # won once (the date rule), and the e-mail never passes its limit
    tenant = TenantFactory()
    make_catalog(tenant)

    results = run_together(
        [hold_call(tenant, day=100 + n % 2, email="ada@example.com") for n in range(10)]
    )

    assert Counter(map(outcome, results)) == {"held": 2, "date_unavailable:held": 8}
    assert held_count(tenant) == 2
