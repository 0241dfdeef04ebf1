"""Holds under real concurrency: threads with their own connections, released
together by a barrier; the database's partial unique constraint decides."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable

import pytest
from django.utils import timezone

from bookings.errors import DateUnavailable
from bookings.models import Booking
from bookings.services import booking_expire, booking_hold, booking_mark_paid
from tenants.scoping import scopes_disabled, tenant_scope
from tests.concurrency import run_together
from tests.conftest import run_outbox
from tests.factories import BookingFactory, TenantFactory, days_ahead, make_catalog

pytestmark = pytest.mark.django_db(transaction=True)


def hold_call(tenant, day: dt.date, name: str) -> Callable[[], object]:
    def call():
        with tenant_scope(tenant):
            return booking_hold(
                tenant=tenant,
                package_slug="elopement",
                add_on_slugs=["flowers"],
                event_date=day,
                couple_name=name,
                email=f"{name}@example.com",
            )

    return call


def outcome(result: object) -> str:
    if isinstance(result, Booking):
        return "held"
    if isinstance(result, DateUnavailable):
        return f"date_unavailable:{result.reason}"
    return repr(result)


@pytest.mark.parametrize("contenders", [2, 10, 50])
def test_concurrent_holds_for_one_date_have_exactly_one_winner(contenders):
    tenant = TenantFactory()
    make_catalog(tenant)
    day = days_ahead(120)

    results = run_together([hold_call(tenant, day, f"couple{i}") for i in range(contenders)])

    assert Counter(map(outcome, results)) == {"held": 1, "date_unavailable:held": contenders - 1}
    with scopes_disabled():
        assert Booking.objects.filter(event_date=day, status=Booking.Status.HELD).count() == 1
        assert Booking.objects.count() == 1
        winner = next(r for r in results if isinstance(r, Booking))
        assert winner.add_on_lines.count() == 1


def test_concurrent_holds_for_five_dates_all_succeed():
    tenant = TenantFactory()
    make_catalog(tenant)
    days = [days_ahead(100 + i) for i in range(5)]

    results = run_together([hold_call(tenant, day, f"couple{i}") for i, day in enumerate(days)])

    assert [outcome(r) for r in results] == ["held"] * 5
    with scopes_disabled():
        assert sorted(Booking.objects.values_list("event_date", flat=True)) == days


def test_mixed_dates_only_the_free_ones_are_won():
    tenant = TenantFactory()
    catalog = make_catalog(tenant)
    d1, d2, d3, d4 = (days_ahead(200 + i) for i in range(4))
    BookingFactory(
        tenant=tenant, package=catalog.package, event_date=d2, status=Booking.Status.CONFIRMED
    )
    BookingFactory(
        tenant=tenant, package=catalog.package, event_date=d3, status=Booking.Status.HELD
    )

    results = run_together(
        [hold_call(tenant, day, f"c{i}") for i, day in enumerate((d1, d2, d3, d4))]
    )

    assert [outcome(r) for r in results] == [
        "held",
        "date_unavailable:booked",
        "date_unavailable:held",
        "held",
    ]
    with scopes_disabled():
        assert Booking.objects.count() == 4


def test_two_tenants_racing_for_the_same_date_both_win():
    alpha, beta = TenantFactory(), TenantFactory()
    make_catalog(alpha)
    make_catalog(beta)
    day = days_ahead(150)

    results = run_together([hold_call(alpha, day, "a"), hold_call(beta, day, "b")])

    assert [outcome(r) for r in results] == ["held", "held"]


def test_concurrent_holds_on_a_lapsed_hold_have_exactly_one_winner():
    tenant = TenantFactory()
    catalog = make_catalog(tenant)
    day = days_ahead(130)
    lapsed = BookingFactory(
        tenant=tenant,
        package=catalog.package,
        event_date=day,
        status=Booking.Status.HELD,
        hold_expires_at=timezone.now() - dt.timedelta(minutes=1),
    )

    results = run_together([hold_call(tenant, day, f"c{i}") for i in range(10)])

    assert Counter(map(outcome, results)) == {"held": 1, "date_unavailable:held": 9}
    with scopes_disabled():
        lapsed.refresh_from_db()
        assert lapsed.status == Booking.Status.EXPIRED
        assert (
            Booking.objects.filter(event_date=day, status__in=Booking.ACTIVE_STATUSES).count() == 1
        )


def test_two_paid_sessions_for_one_date_one_confirmed_the_other_refunded_once(stripe_standin):
    # Two holds lapsed on the same date (the first expired, then the second
    # one lapsed too); both couples pay late, at the same moment.
    tenant = TenantFactory()
    catalog = make_catalog(tenant)
    day = days_ahead(140)
    past = timezone.now() - dt.timedelta(minutes=5)
    first = BookingFactory(
        tenant=tenant,
        package=catalog.package,
        event_date=day,
        status=Booking.Status.EXPIRED,
        hold_expires_at=past,
    )
    second = BookingFactory(
        tenant=tenant,
        package=catalog.package,
        event_date=day,
        status=Booking.Status.EXPIRED,
        hold_expires_at=past,
    )
    intents = {}
    for booking in (first, second):
        session, intent = _paid_session(stripe_standin, booking)
        intents[booking.pk] = intent
        with scopes_disabled():
            Booking.objects.filter(pk=booking.pk).update(stripe_checkout_session_id=session)

    def pay(booking):
        def call():
            with tenant_scope(tenant):
                return booking_mark_paid(
                    tenant=tenant,
                    booking_id=booking.pk,
                    checkout_session_id=booking.stripe_checkout_session_id or "",
                    payment_intent_id=intents[booking.pk],
                    amount_paid_cents=booking.amount_cents,
                )

        return call

    results = run_together([pay(first), pay(second)])
    run_outbox()  # the refund the platform owes is a task, run after commit

    assert sorted(results) == [
        "confirmed after the hold lapsed",
        "paid after the hold lapsed and the date was taken; refunding",
    ]
    with scopes_disabled():
        statuses = sorted(Booking.objects.values_list("status", "cancel_reason", "refunded_cents"))
        loser = Booking.objects.get(status=Booking.Status.CANCELED)
    assert statuses == [("canceled", "date_taken", loser.amount_cents), ("confirmed", "", 0)]
    refunds = [r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/refunds"]
    assert len(refunds) == 1
    assert refunds[0].params["payment_intent"] == intents[loser.pk]
    assert int(refunds[0].params["amount"]) == loser.amount_cents


def test_expiry_and_payment_racing_end_confirmed(stripe_standin):
    # `checkout.session.expired` and `completed` for one held booking at once:
    # whichever runs first, the paid booking ends confirmed (its date was
    # still free) and nothing is refunded.
    tenant = TenantFactory()
    catalog = make_catalog(tenant)
    booking = BookingFactory(tenant=tenant, package=catalog.package, status=Booking.Status.HELD)
    session, intent = _paid_session(stripe_standin, booking)

    def expire():
        with tenant_scope(tenant):
            return booking_expire(tenant=tenant, booking_id=booking.pk, reason="session_expired")

    def pay():
        with tenant_scope(tenant):
            return booking_mark_paid(
                tenant=tenant,
                booking_id=booking.pk,
                checkout_session_id=session,
                payment_intent_id=intent,
                amount_paid_cents=booking.amount_cents,
            )

    run_together([expire, pay])

    with scopes_disabled():
        booking.refresh_from_db()
    assert (booking.status, booking.paid_cents, booking.refunded_cents) == (
        "confirmed",
        booking.amount_cents,
        0,
    )
    assert not [
        r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/refunds"
    ]


def _paid_session(standin, booking) -> tuple[str, str]:
    """A Checkout Session in the stand-in for `booking`, paid; returns its id
    and its PaymentIntent's id."""
    from bookings.payments import stripe_client

    session = stripe_client().v1.checkout.sessions.create(
        {
            "mode": "payment",
            "line_items": [
                {
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": booking.amount_cents,
                        "product_data": {"name": "Elopement"},
                    },
                    "quantity": 1,
                }
            ],
            "success_url": "http://127.0.0.1/ok",
            "cancel_url": "http://127.0.0.1/no",
            "client_reference_id": str(booking.pk),
        }
    )
    standin.pay(session.id)
    paid = standin.get(session.id)
    return session.id, paid["payment_intent"]
