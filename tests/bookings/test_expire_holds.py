"""`manage.py expire_holds`: the bookkeeping sweep of lapsed holds."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from bookings.models import Booking
from bookings.services import bookings_expire_lapsed
from tests.factories import BookingFactory

pytestmark = pytest.mark.django_db


def run_expire_holds(*args: str) -> str:
    out = StringIO()
    call_command("expire_holds", *args, stdout=out)
    return out.getvalue()


def lapsed(tenant, **fields) -> Booking:
    return BookingFactory(
        tenant=tenant,
        status=Booking.Status.HELD,
        hold_expires_at=timezone.now() - dt.timedelta(minutes=1),
        **fields,
    )


def statuses() -> dict:
    return dict(Booking.objects.values_list("pk", "status"))


def test_marks_only_lapsed_holds_expired_across_tenants(tenant, other_tenant, unscoped):
    a = lapsed(tenant)
    b = lapsed(other_tenant)
    live = BookingFactory(tenant=tenant, status=Booking.Status.HELD)
    confirmed = BookingFactory(
        tenant=tenant, status=Booking.Status.CONFIRMED, hold_expires_at=timezone.now()
    )
    canceled = BookingFactory(tenant=other_tenant, status=Booking.Status.CANCELED)
    before = {live.pk: live.updated_at, confirmed.pk: confirmed.updated_at}

    output = run_expire_holds("--json")

    assert json.loads(output) == {"expired": 2}
    assert statuses() == {
        a.pk: "expired",
        b.pk: "expired",
        live.pk: "held",
        confirmed.pk: "confirmed",
        canceled.pk: "canceled",
    }
    a.refresh_from_db()
    assert a.expired_at is not None
    assert {pk: Booking.objects.get(pk=pk).updated_at for pk in (live.pk, confirmed.pk)} == before


def test_json_output_is_one_object_and_nothing_else(tenant, unscoped):
    lapsed(tenant)

    output = run_expire_holds("--json")

    assert output == '{"expired": 1}\n'


def test_running_twice_expires_nothing_the_second_time(tenant, other_tenant, unscoped):
    lapsed(tenant)
    lapsed(other_tenant)

    first = json.loads(run_expire_holds("--json"))
    second = json.loads(run_expire_holds("--json"))

    assert (first, second) == ({"expired": 2}, {"expired": 0})
    assert Booking.objects.filter(status="expired").count() == 2


def test_plain_output_says_how_many(tenant, unscoped):
    lapsed(tenant)

    assert run_expire_holds() == "Expired 1 lapsed hold(s).\n"


def test_nothing_to_do_reports_zero(tenant, unscoped):
    BookingFactory(tenant=tenant, status=Booking.Status.HELD)

    assert json.loads(run_expire_holds("--json")) == {"expired": 0}
    assert Booking.objects.get().status == "held"


def test_expired_date_can_be_held_again(tenant, unscoped):
    old = lapsed(tenant)
    run_expire_holds()

    new = BookingFactory(tenant=tenant, event_date=old.event_date, status=Booking.Status.HELD)

    assert statuses() == {old.pk: "expired", new.pk: "held"}


def test_service_uses_the_given_now(tenant, unscoped):
    now = timezone.now()
    at_edge = BookingFactory(tenant=tenant, status=Booking.Status.HELD, hold_expires_at=now)
    later = BookingFactory(
        tenant=tenant,
        status=Booking.Status.HELD,
        hold_expires_at=now + dt.timedelta(microseconds=1),
    )

    assert bookings_expire_lapsed(now=now) == 1

    assert statuses() == {at_edge.pk: "expired", later.pk: "held"}
