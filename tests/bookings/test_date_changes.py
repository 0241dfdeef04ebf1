"""Issue 14, date changes: staff (admin, calendar) and couples (manage my
booking, API; within the policy) move a confirmed booking to another free
date in one transaction; payments carry over; a lower price is refunded
through the ledger, a higher price or fee is due through a pay link; both
sides get the calendar update (same UID, SEQUENCE + 1); audited from → to."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail

from bookings.errors import BookingNotCancelable, DateUnavailable, PolicyForbidsChange
from bookings.manage_links import manage_path, manage_token
from bookings.models import Booking, BookingDateChange, BookingPolicy, BookingRefund
from bookings.services import (
    booking_cancel,
    booking_checkout,
    booking_date_change,
    booking_hold,
    date_change_mark_paid,
)
from catalog.models import Package
from tenants.models import AuditEntry
from tenants.scoping import tenant_scope
from tests.concurrency import run_together
from tests.conftest import pay_on_standin, run_outbox
from tests.factories import (
    BlackoutDateFactory,
    BookingFactory,
    TenantFactory,
    checkout_body,
    days_ahead,
    make_catalog,
)
from tools.stripe_standin import StandinError


def paid(tenant, tenant_api, standin, *, days: int) -> Booking:
    response = tenant_api.post(
        "/api/v1/checkout",
        checkout_body(event_date=days_ahead(days).isoformat(), add_ons=[]),
        format="json",
    )
    assert response.status_code == 201, response.json()
    booking = Booking.objects.get(pk=response.json()["booking"]["id"])
    pay_on_standin(standin, tenant, booking)
    run_outbox()
    mail.outbox.clear()
    booking.refresh_from_db()
    return booking


def allow_couples(tenant, **fields) -> BookingPolicy:
    fields = {
        "date_change_allowed": True,
        "date_change_min_days": 30,
        "date_change_max_count": 1,
        **fields,
    }
    return BookingPolicy.objects.create(tenant=tenant, **fields)


def move(tenant, booking, day: dt.date, by: str = "staff") -> BookingDateChange:
    with tenant_scope(tenant):
        return booking_date_change(tenant=tenant, booking_id=booking.pk, new_date=day, by=by)


def hold(tenant, day: dt.date, email: str = "next@example.com") -> Booking:
    with tenant_scope(tenant):
        return booking_hold(
            tenant=tenant,
            package_slug="elopement",
            add_on_slugs=[],
            event_date=day,
            couple_name="Next couple",
            email=email,
        )


# --- the move ------------------------------------------------------------------------


@pytest.mark.django_db
def test_staff_move_takes_the_new_date_frees_the_old_and_tells_both_sides(
    tenant, tenant_api, catalog, stripe_standin, staff_user, unscoped
):
    booking = paid(tenant, tenant_api, stripe_standin, days=100)
    old, new = booking.event_date, days_ahead(120)

    change = move(tenant, booking, new)
    run_outbox()

    booking.refresh_from_db()
    assert booking.event_date == new
    assert (booking.status, booking.paid_cents, booking.amount_cents) == (
        "confirmed",
        150_000,
        150_000,
    )
    assert (change.from_date, change.to_date, change.by) == (old, new, "staff")
    assert (change.refund_cents, change.due_cents, change.payment) == (0, 0, "none")
    assert hold(tenant, old).status == "held"  # the old date is free
    with pytest.raises(DateUnavailable):
        hold(tenant, new)
    entry = AuditEntry.objects.get(action="booking.date_changed", object_id=str(booking.pk))
    assert entry.changes["event_date"] == [old.isoformat(), new.isoformat()]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(["ada@example.com", staff_user.email])
    for message in mail.outbox:
        (_name, ics, mimetype) = message.attachments[0]
        assert mimetype == "text/calendar; charset=utf-8; method=PUBLISH"
        assert f"UID:booking-{booking.pk}@altar\r\n" in ics
        assert "SEQUENCE:1\r\n" in ics
        assert f"DTSTART;VALUE=DATE:{new:%Y%m%d}\r\n" in ics
    assert any("has moved from" in m.body for m in mail.outbox)


@pytest.mark.django_db
def test_a_lower_price_refunds_the_difference_through_the_ledger(
    tenant, tenant_api, catalog, stripe_standin, unscoped
):
    booking = paid(tenant, tenant_api, stripe_standin, days=100)
    Package.objects.filter(pk=catalog.package.pk).update(price_cents=120_000)

    change = move(tenant, booking, days_ahead(110))
    run_outbox()

    booking.refresh_from_db()
    (refund,) = BookingRefund.objects.filter(booking=booking)
    assert (refund.amount_cents, refund.reason, refund.status) == (
        30_000,
        "date_change",
        "succeeded",
    )
    assert (change.price_difference_cents, change.refund_cents, change.due_cents) == (
        -30_000,
        30_000,
        0,
    )
    assert (booking.amount_cents, booking.paid_cents, booking.refunded_cents) == (
        120_000,
        150_000,
        30_000,
    )
    # Commission follows the amount: 10 % of the 30,000 refunded goes back.
    assert booking.commission_refunded_cents == 3_000


@pytest.mark.django_db
def test_a_higher_price_and_the_couples_fee_are_due_through_a_pay_link(
    tenant, tenant_api, catalog, stripe_standin, unscoped
):
    allow_couples(tenant, date_change_fee_cents=5_000)
    booking = paid(tenant, tenant_api, stripe_standin, days=100)
    Package.objects.filter(pk=catalog.package.pk).update(price_cents=160_000)

    change = move(tenant, booking, days_ahead(110), by="couple")
    run_outbox()

    change.refresh_from_db()
    booking.refresh_from_db()
    assert (change.fee_cents, change.due_cents, change.payment) == (5_000, 15_000, "due")
    session = stripe_standin.get(change.stripe_checkout_session_id)
    assert session["amount_total"] == 15_000
    assert session["metadata"] == {
        "booking_id": str(booking.pk),
        "tenant": tenant.slug,
        "altar_date_change": str(change.pk),
    }
    assert change.checkout_url == session["url"]
    pay_mail = [m for m in mail.outbox if change.checkout_url in m.body]
    assert [m.to for m in pay_mail] == [["ada@example.com"]]
    # Unpaid so far: the booking's own money is unchanged.
    assert (booking.amount_cents, booking.paid_cents, booking.couple_date_changes) == (
        150_000,
        150_000,
        1,
    )


@pytest.mark.django_db
def test_a_second_move_before_the_first_difference_is_paid_replaces_it(
    tenant, tenant_api, catalog, stripe_standin, webhooks, unscoped
):
    """Two moves to a higher price in a row: the second prices from the same
    unpaid start, so it replaces the first, whose pay link Stripe expires;
    the couple pays one difference, not two."""
    booking = paid(tenant, tenant_api, stripe_standin, days=100)
    Package.objects.filter(pk=catalog.package.pk).update(price_cents=160_000)
    first = move(tenant, booking, days_ahead(110))
    run_outbox()  # the first pay link opens
    first.refresh_from_db()
    first_link = first.stripe_checkout_session_id

    second = move(tenant, booking, days_ahead(120))
    run_outbox()  # the first link expires, the second opens

    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.payment, second.payment, second.due_cents) == ("superseded", "due", 10_000)
    assert stripe_standin.get(first_link)["status"] == "expired"
    with pytest.raises(StandinError):
        stripe_standin.pay(first_link)
    stripe_standin.pay(second.stripe_checkout_session_id)
    booking.refresh_from_db()
    assert (booking.amount_cents, booking.paid_cents, booking.refunded_cents) == (
        160_000,
        160_000,
        0,
    )
    assert booking.event_date == days_ahead(120)


def test_a_replaced_pay_link_paid_before_stripe_expired_it_is_refunded_in_full(
    tenant, tenant_api, catalog, stripe_standin, webhooks, unscoped
):
    booking = paid(tenant, tenant_api, stripe_standin, days=100)
    Package.objects.filter(pk=catalog.package.pk).update(price_cents=160_000)
    first = move(tenant, booking, days_ahead(110))
    run_outbox()
    first.refresh_from_db()
    move(tenant, booking, days_ahead(120))

    # The couple pays the first link before the outbox expires it.
    stripe_standin.pay(first.stripe_checkout_session_id)
    run_outbox()  # the refund goes out; the expiry finds the session complete

    first.refresh_from_db()
    booking.refresh_from_db()
    late = booking.payments.get(kind="change")
    assert (first.payment, first.paid_at is not None) == ("superseded", True)
    assert (late.amount_cents, late.status) == (10_000, "succeeded")
    assert list(booking.refunds.values_list("reason", "amount_cents", "status")) == [
        ("date_change", 10_000, "succeeded")
    ]
    # What the booking costs is the second change's business, still due.
    assert (booking.amount_cents, booking.paid_cents, booking.refunded_cents) == (
        150_000,
        160_000,
        10_000,
    )
    assert [r["amount"] for r in stripe_standin.refunds_of(late.stripe_payment_intent_id)] == [
        10_000
    ]


def test_moving_onto_a_taken_or_blacked_out_date_changes_nothing(
    tenant, tenant_api, catalog, stripe_standin, unscoped
):
    booking = paid(tenant, tenant_api, stripe_standin, days=100)
    other = paid(tenant, tenant_api, stripe_standin, days=101)
    blackout = BlackoutDateFactory(tenant=tenant, date=days_ahead(102))

    with pytest.raises(DateUnavailable) as taken:
        move(tenant, booking, other.event_date)
    with pytest.raises(DateUnavailable) as closed:
        move(tenant, booking, blackout.date)

    assert (taken.value.reason, closed.value.reason) == ("booked", "blackout")
    booking.refresh_from_db()
    assert (booking.event_date, booking.ics_sequence) == (days_ahead(100), 0)
    assert BookingDateChange.objects.count() == 0


# --- the couple, within the policy ------------------------------------------------------


@pytest.mark.django_db
def test_couple_moves_through_the_api_within_the_policy(
    tenant, tenant_api, catalog, stripe_standin, unscoped
):
    allow_couples(tenant)
    booking = paid(tenant, tenant_api, stripe_standin, days=100)
    url = f"/api/v1/bookings/{booking.pk}/date-change"
    token = {"HTTP_X_MANAGE_TOKEN": manage_token(booking.pk)}

    first = tenant_api.post(
        url, {"event_date": days_ahead(130).isoformat()}, format="json", **token
    )
    second = tenant_api.post(
        url, {"event_date": days_ahead(140).isoformat()}, format="json", **token
    )
    no_token = tenant_api.post(url, {"event_date": days_ahead(140).isoformat()}, format="json")

    assert first.status_code == 200, first.json()
    assert first.json()["to_date"] == days_ahead(130).isoformat()
    assert first.json()["booking"]["event_date"] == days_ahead(130).isoformat()
    assert second.status_code == 409
    assert second.json()["error"]["code"] == "policy_forbids_change"
    assert second.json()["error"]["fields"]["policy"][0]["code"] == "too_many_changes"
    assert no_token.status_code == 404
    booking.refresh_from_db()
    assert booking.event_date == days_ahead(130)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("policy", "days", "code"),
    [
        ({"date_change_allowed": False}, 100, "changes_off"),
        ({"date_change_min_days": 30}, 29, "too_late"),
    ],
)
def test_couple_moves_the_policy_forbids_change_nothing(
    tenant, tenant_api, catalog, stripe_standin, unscoped, policy, days, code
):
    allow_couples(tenant, **policy)
    booking = paid(tenant, tenant_api, stripe_standin, days=days)

    response = tenant_api.post(
        f"/api/v1/bookings/{booking.pk}/date-change",
        {"event_date": days_ahead(150).isoformat()},
        format="json",
        HTTP_X_MANAGE_TOKEN=manage_token(booking.pk),
    )

    assert response.status_code == 409
    assert response.json()["error"]["fields"]["policy"][0]["code"] == code
    booking.refresh_from_db()
    assert booking.event_date == days_ahead(days)


@pytest.mark.django_db
def test_couple_moves_from_manage_my_booking(
    client, tenant, tenant_api, catalog, stripe_standin, unscoped
):
    allow_couples(tenant, date_change_max_count=2)
    booking = paid(tenant, tenant_api, stripe_standin, days=100)
    taken = paid(tenant, tenant_api, stripe_standin, days=105)
    base = manage_path(booking.pk)

    page = client.get(base).content.decode()
    refused = client.post(base + "move/", {"event_date": taken.event_date.isoformat()})
    moved = client.post(base + "move/", {"event_date": days_ahead(125).isoformat()})

    assert 'id="move-form"' in page
    assert "Moving is free; your payments carry over." in page
    assert refused.status_code == 409
    assert "has just been booked by another couple" in refused.content.decode()
    assert moved.status_code == 302
    assert moved["Location"] == base + "?saved=moved"
    booking.refresh_from_db()
    assert booking.event_date == days_ahead(125)
    assert "Your wedding has moved to" in client.get(moved["Location"]).content.decode()


# --- races -------------------------------------------------------------------------------


def race_tenant(stripe_standin):
    tenant = TenantFactory()
    make_catalog(tenant)
    return tenant


def paid_in(tenant, standin, days: int, email: str = "ada@example.com") -> Booking:
    with tenant_scope(tenant):
        booking = booking_checkout(
            tenant=tenant,
            package_slug="elopement",
            add_on_slugs=[],
            event_date=days_ahead(days),
            couple_name="Ada & Grace",
            email=email,
        ).booking
        pay_on_standin(standin, tenant, booking)
    return booking


@pytest.mark.django_db(transaction=True)
def test_two_moves_onto_one_free_date_exactly_one_wins(stripe_standin):
    tenant = race_tenant(stripe_standin)
    first = paid_in(tenant, stripe_standin, 100, "a@example.com")
    second = paid_in(tenant, stripe_standin, 101, "b@example.com")
    target = days_ahead(150)

    results = run_together(
        [lambda: move(tenant, first, target), lambda: move(tenant, second, target)]
    )

    kinds = sorted(type(r).__name__ for r in results)
    assert kinds == ["BookingDateChange", "DateUnavailable"]
    loser = next(r for r in results if isinstance(r, DateUnavailable))
    assert loser.reason == "booked"
    with tenant_scope(tenant):
        on_target = Booking.objects.filter(tenant=tenant, event_date=target)
        assert on_target.count() == 1
        assert BookingDateChange.objects.count() == 1
        first.refresh_from_db()
        second.refresh_from_db()
    if isinstance(results[0], BookingDateChange):
        assert (first.event_date, second.event_date) == (target, days_ahead(101))
    else:
        assert (first.event_date, second.event_date) == (days_ahead(100), target)


@pytest.mark.django_db(transaction=True)
def test_a_move_racing_a_new_hold_on_the_target_date_exactly_one_wins(stripe_standin):
    tenant = race_tenant(stripe_standin)
    booking = paid_in(tenant, stripe_standin, 100)
    target = days_ahead(150)

    results = run_together([lambda: move(tenant, booking, target), lambda: hold(tenant, target)])

    winners = [r for r in results if not isinstance(r, DateUnavailable)]
    assert len(winners) == 1
    with tenant_scope(tenant):
        active = Booking.objects.filter(
            tenant=tenant, event_date=target, status__in=Booking.ACTIVE_STATUSES
        )
        assert active.count() == 1
        booking.refresh_from_db()
        changes = BookingDateChange.objects.filter(tenant=tenant).count()
    if isinstance(winners[0], BookingDateChange):
        assert (booking.event_date, changes) == (target, 1)
    else:
        assert isinstance(winners[0], Booking) and winners[0].status == "held"
        assert (booking.event_date, changes) == (days_ahead(100), 0)


@pytest.mark.django_db(transaction=True)
def test_a_move_racing_a_cancel_never_leaves_a_date_occupied_by_a_canceled_booking(stripe_standin):
    tenant = race_tenant(stripe_standin)
    booking = paid_in(tenant, stripe_standin, 100)
    target = days_ahead(150)

    def cancel():
        with tenant_scope(tenant):
            return booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=0)

    results = run_together([lambda: move(tenant, booking, target), cancel])

    with tenant_scope(tenant):
        booking.refresh_from_db()
        occupied = Booking.objects.filter(tenant=tenant, status__in=Booking.ACTIVE_STATUSES)
        assert occupied.count() == 0
    assert booking.status == "canceled"
    assert isinstance(results[1], Booking)
    if isinstance(results[0], BookingDateChange):
        # The move locked first: moved, then canceled on the new date.
        assert booking.event_date == target
    else:
        assert isinstance(results[0], PolicyForbidsChange)
        assert results[0].reason == "not_confirmed"
        assert booking.event_date == days_ahead(100)


@pytest.mark.django_db(transaction=True)
def test_a_move_racing_the_payment_of_the_previous_changes_link_charges_once(stripe_standin):
    """The couple pays the first change's link while staff move the date
    again: whichever locks the booking first, the couple ends up paying the
    higher price once (a replaced link's payment is refunded in full)."""
    tenant = race_tenant(stripe_standin)
    booking = paid_in(tenant, stripe_standin, 100)
    with tenant_scope(tenant):
        Package.objects.filter(tenant=tenant, slug="elopement").update(price_cents=160_000)
    first = move(tenant, booking, days_ahead(110))
    run_outbox()  # the first pay link opens
    with tenant_scope(tenant):
        first.refresh_from_db()
    stripe_standin.pay(first.stripe_checkout_session_id)
    session = stripe_standin.get(first.stripe_checkout_session_id)

    def payment_lands():
        with tenant_scope(tenant):
            return date_change_mark_paid(
                tenant=tenant,
                change_id=first.pk,
                checkout_session_id=session["id"],
                amount_paid_cents=session["amount_total"],
                currency="usd",
                payment_intent_id=session["payment_intent"],
            )

    moved, landed = run_together([lambda: move(tenant, booking, days_ahead(120)), payment_lands])

    with tenant_scope(tenant):
        booking.refresh_from_db()
        first.refresh_from_db()
        refunds = list(booking.refunds.values_list("reason", "amount_cents"))
    assert isinstance(moved, BookingDateChange)
    assert (booking.event_date, booking.paid_cents) == (days_ahead(120), 160_000)
    if landed == "date change paid":  # the payment locked first
        assert (first.payment, moved.payment, moved.due_cents) == ("paid", "none", 0)
        assert (booking.amount_cents, refunds) == (160_000, [])
    else:  # the move locked first: the paid link was replaced
        assert landed == "date change replaced by a later one; refunding its payment"
        assert (first.payment, moved.payment, moved.due_cents) == ("superseded", "due", 10_000)
        assert (booking.amount_cents, refunds) == (150_000, [("date_change", 10_000)])


# --- staff: admin and calendar ------------------------------------------------------------


@pytest.mark.django_db
def test_staff_move_from_the_admin_with_a_review_step(
    staff_client, tenant, tenant_api, catalog, stripe_standin, unscoped
):
    booking = paid(tenant, tenant_api, stripe_standin, days=100)
    url = f"/admin/bookings/booking/{booking.pk}/move/"
    new = days_ahead(140)

    detail = staff_client.get(f"/admin/bookings/booking/{booking.pk}/change/").content.decode()
    review = staff_client.post(url, {"event_date": new.isoformat(), "_review": "1"})
    booking.refresh_from_db()
    assert booking.event_date == days_ahead(100)  # reviewing changes nothing
    done = staff_client.post(
        url, {"event_date": new.isoformat(), "seen_refund_cents": "0", "_confirm": "1"}
    )

    assert url in detail
    assert 'id="move-confirm"' in review.content.decode()
    assert done.status_code == 302
    booking.refresh_from_db()
    assert booking.event_date == new
    calendar = staff_client.get(
        f"/admin/bookings/booking/calendar/?month={new:%Y-%m}"
    ).content.decode()
    assert url in calendar


@pytest.mark.django_db
def test_staff_cannot_move_another_tenants_booking(staff_client, other_tenant, unscoped):
    make_catalog(other_tenant)
    theirs = BookingFactory(tenant=other_tenant, event_date=days_ahead(100))

    response = staff_client.post(
        f"/admin/bookings/booking/{theirs.pk}/move/", {"event_date": days_ahead(140).isoformat()}
    )

    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.event_date == days_ahead(100)


@pytest.mark.django_db
def test_a_canceled_booking_cannot_be_moved(tenant, tenant_api, catalog, stripe_standin, unscoped):
    booking = paid(tenant, tenant_api, stripe_standin, days=100)
    with tenant_scope(tenant):
        booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=0)

    with pytest.raises(PolicyForbidsChange) as refused:
        move(tenant, booking, days_ahead(120))

    assert refused.value.reason == "not_confirmed"
    with pytest.raises(BookingNotCancelable):
        with tenant_scope(tenant):
            booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=0)
