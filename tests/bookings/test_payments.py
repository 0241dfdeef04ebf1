"""Payment, late payment, expiry, staff cancellation and refunds, through the
services and the stand-in (the real Stripe client on loopback)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.utils import timezone

from bookings.errors import (
    BookingNotCancelable,
    BookingNotFound,
    RefundTooLarge,
)
from bookings.models import Booking, BookingRefund
from bookings.refunds import refund_record_from_event
from bookings.services import (
    booking_cancel,
    booking_expire,
    booking_hold,
    booking_hold_release,
    booking_mark_paid,
)
from tests.conftest import pay_on_standin, run_outbox
from tests.factories import MembershipFactory, days_ahead

pytestmark = pytest.mark.django_db


def refunds_requested(standin) -> list:
    return [r for r in standin.requests if r.method == "POST" and r.path == "/v1/refunds"]


def test_payment_confirms_the_hold_once_and_mails_couple_and_staff(
    tenant, checkout, stripe_standin
):
    MembershipFactory(tenant=tenant, user__email="staff@alpha.example")
    booking = checkout(add_ons=["flowers", "photos"])

    outcome = pay_on_standin(stripe_standin, tenant, booking)
    run_outbox()
    repeated = booking_mark_paid(
        tenant=tenant,
        booking_id=booking.pk,
        checkout_session_id=booking.stripe_checkout_session_id,
        payment_intent_id="pi_whatever",
        amount_paid_cents=1,
    )
    run_outbox()
    # An e-mail task run again (a worker retry) sends nothing more.
    from bookings.tasks import booking_mail_confirmed

    booking_mail_confirmed.enqueue(tenant_id=tenant.pk, booking_id=str(booking.pk))
    run_outbox()

    booking.refresh_from_db()
    assert (outcome, repeated) == ("confirmed", "payment already recorded")
    assert booking.status == "confirmed"
    assert booking.paid_cents == booking.amount_cents == 202_345
    assert booking.stripe_payment_intent_id.startswith("pi_")
    assert booking.confirmed_at is not None
    assert [m.to for m in mail.outbox] == [["ada@example.com"], ["staff@alpha.example"]]
    couple_mail = mail.outbox[0]
    assert "Elopement" in couple_mail.body and "Flowers" in couple_mail.body
    assert couple_mail.attachments[0][0] == "wedding.ics"


def test_expired_event_after_payment_does_not_unconfirm(tenant, checkout, stripe_standin):
    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)

    outcome = booking_expire(tenant=tenant, booking_id=booking.pk, reason="session_expired")

    booking.refresh_from_db()
    assert (outcome, booking.status) == ("left confirmed", "confirmed")


def test_expiry_frees_the_date(tenant, checkout, tenant_api):
    booking = checkout()

    outcome = booking_expire(tenant=tenant, booking_id=booking.pk, reason="session_expired")

    booking.refresh_from_db()
    assert (outcome, booking.status) == ("expired", "expired")
    assert tenant_api.get(f"/api/v1/availability/{booking.event_date}").json()["available"] is True


def test_lapsed_hold_paid_while_the_date_is_still_free_is_confirmed(
    tenant, checkout, stripe_standin
):
    booking = checkout()
    booking_expire(tenant=tenant, booking_id=booking.pk, reason="session_expired")

    outcome = pay_on_standin(stripe_standin, tenant, booking)

    booking.refresh_from_db()
    assert (outcome, booking.status) == ("confirmed after the hold lapsed", "confirmed")
    assert refunds_requested(stripe_standin) == []


def test_lapsed_hold_paid_after_someone_else_took_the_date_is_refunded_once(
    tenant, checkout, stripe_standin
):
    booking = checkout()
    Booking.objects.filter(pk=booking.pk).update(
        hold_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    rival = checkout(couple_name="Someone Else", email="else@example.com")

    outcome = pay_on_standin(stripe_standin, tenant, booking)
    run_outbox()
    repeated = booking_mark_paid(
        tenant=tenant,
        booking_id=booking.pk,
        checkout_session_id=booking.stripe_checkout_session_id,
        payment_intent_id=booking.stripe_payment_intent_id or "",
        amount_paid_cents=booking.amount_cents,
    )
    run_outbox()

    booking.refresh_from_db()
    rival.refresh_from_db()
    assert outcome == "paid after the hold lapsed and the date was taken; refunding"
    assert repeated == "payment already recorded"
    assert (booking.status, booking.cancel_reason) == ("canceled", "date_taken")
    assert booking.refunded_cents == booking.paid_cents == booking.amount_cents
    assert booking.commission_refunded_cents == booking.commission_cents
    assert rival.status == "held"
    (refund_call,) = refunds_requested(stripe_standin)
    (refund,) = BookingRefund.objects.filter(booking=booking, reason="date_taken")
    assert refund_call.idempotency_key == f"altar-refund-{refund.pk}-attempt-1"
    assert refund.status == "succeeded"
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]  # the couple hears about it


def test_refund_after_a_stripe_500_is_looked_up_then_retried_under_a_new_key(
    tenant, checkout, stripe_standin
):
    """Stripe replays a stored 500 under the same key for 24 h: the retry
    first lists the payment's refunds, finds none, and uses the next key."""
    from django_tasks_db.models import DBTaskResult

    booking = checkout()
    Booking.objects.filter(pk=booking.pk).update(
        hold_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )
    checkout(couple_name="Someone Else")
    stripe_standin.fail_next("POST", "/v1/refunds", status=500)

    pay_on_standin(stripe_standin, tenant, booking)
    run_outbox()  # the refund fails at Stripe and schedules its own retry

    booking.refresh_from_db()
    (refund,) = BookingRefund.objects.filter(booking=booking)
    assert (booking.status, booking.refunded_cents) == ("canceled", 0)
    assert (refund.status, refund.attempt, refund.unclear_since is not None) == (
        "requested",
        1,
        True,
    )
    retry = DBTaskResult.objects.get(status="READY")
    assert retry.args_kwargs["kwargs"]["attempt"] == 2
    assert retry.run_after > timezone.now() + dt.timedelta(seconds=20)
    run_outbox()  # not due yet: nothing happens
    assert len(refunds_requested(stripe_standin)) == 1

    DBTaskResult.objects.filter(pk=retry.pk).update(run_after=timezone.now())
    run_outbox()
    replayed = booking_mark_paid(  # Stripe redelivers the event: no second refund
        tenant=tenant,
        booking_id=booking.pk,
        checkout_session_id=booking.stripe_checkout_session_id,
        payment_intent_id=booking.stripe_payment_intent_id,
        amount_paid_cents=booking.amount_cents,
    )
    run_outbox()

    booking.refresh_from_db()
    refund.refresh_from_db()
    assert replayed == "payment already recorded"
    assert booking.refunded_cents == booking.amount_cents
    assert (refund.status, refund.attempt) == ("succeeded", 2)
    posts = refunds_requested(stripe_standin)
    assert [p.idempotency_key for p in posts] == [
        f"altar-refund-{refund.pk}-attempt-1",
        f"altar-refund-{refund.pk}-attempt-2",
    ]
    # Two listings: the refunds fetched once the payment was recorded, then
    # the look-up after the 500.
    lookups = [r for r in stripe_standin.requests if r.method == "GET" and r.path == "/v1/refunds"]
    assert len(lookups) == 2
    assert stripe_standin.get(refund.stripe_refund_id)["amount"] == booking.amount_cents


def test_refund_task_gives_up_after_max_attempts_and_stays_visible(
    tenant, checkout, stripe_standin
):
    from django_tasks_db.models import DBTaskResult

    from bookings.tasks import MAX_ATTEMPTS, refund_send

    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)
    booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=100)
    (refund,) = BookingRefund.objects.all()
    DBTaskResult.objects.all().delete()
    stripe_standin.fail_next("POST", "/v1/refunds", status=500)
    refund_send.enqueue(tenant_id=tenant.pk, refund_id=refund.pk, attempt=MAX_ATTEMPTS)

    run_outbox()

    (failed,) = DBTaskResult.objects.filter(status="FAILED")
    assert failed.task_path == "bookings.tasks.refund_send"
    assert DBTaskResult.objects.filter(status="READY").count() == 0


def test_retry_delays_double_up_to_an_hour():
    from bookings.tasks import retry_delay

    assert [retry_delay(n).total_seconds() for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


@pytest.mark.parametrize(
    ("refund", "refunded", "commission_back"),
    [(None, 162_345, 16_235), (50_000, 50_000, 5_000), (81_173, 81_173, 8_118), (0, 0, 0)],
)
def test_staff_cancel_refunds_and_reverses_commission_in_proportion(
    tenant,
    checkout,
    stripe_standin,
    tenant_api,
    refund,
    refunded,
    commission_back,
):
    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)

    booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=refund)
    run_outbox()

    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == ("canceled", "staff")
    assert (booking.refunded_cents, booking.commission_refunded_cents) == (
        refunded,
        commission_back,
    )
    assert len(refunds_requested(stripe_standin)) == (1 if refunded else 0)
    assert BookingRefund.objects.count() == (1 if refunded else 0)
    assert tenant_api.get(f"/api/v1/availability/{booking.event_date}").json()["available"] is True
    assert [(m.to, m.subject.split(" ")[1]) for m in mail.outbox] == [
        (["ada@example.com"], "wedding"),  # "Your wedding date is confirmed…"
        (["ada@example.com"], "booking"),  # "Your booking for … was canceled"
    ]


def test_cancel_refund_for_a_connect_charge_reverses_transfer_and_fee(
    tenant, catalog, checkout, stripe_standin
):
    account = stripe_standin.create_account(charges_enabled=True)
    tenant.stripe_account_id, tenant.stripe_transfers_active = account["id"], True
    tenant.save()
    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)

    booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=None)
    run_outbox()

    (refund_call,) = refunds_requested(stripe_standin)
    assert refund_call.params["reverse_transfer"] == "true"
    assert refund_call.params["refund_application_fee"] == "true"


def test_cancel_more_than_paid_is_refused_and_changes_nothing(tenant, checkout, stripe_standin):
    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)

    with pytest.raises(RefundTooLarge):
        booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=booking.amount_cents + 1)

    booking.refresh_from_db()
    assert (booking.status, booking.refunded_cents) == ("confirmed", 0)
    assert refunds_requested(stripe_standin) == []


def test_cancel_when_stripe_fails_keeps_the_refund_owed(tenant, checkout, stripe_standin):
    """The cancel is decided under the lock and commits; the refund it owes
    stays reserved and is retried by the outbox, never lost or doubled."""
    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)
    stripe_standin.fail_next("POST", "/v1/refunds", status=500)

    booking_cancel(tenant=tenant, booking_id=booking.pk)
    run_outbox()

    booking.refresh_from_db()
    (refund,) = BookingRefund.objects.all()
    assert (booking.status, booking.refunded_cents) == ("canceled", 0)
    assert (refund.status, refund.amount_cents) == ("requested", booking.amount_cents)


def test_releasing_a_hold_frees_the_date_and_expires_the_checkout(
    tenant, checkout, stripe_standin, catalog
):
    booking = checkout()

    booking_hold_release(tenant=tenant, booking_id=booking.pk)
    run_outbox()

    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == ("canceled", "hold_released")
    assert stripe_standin.get(booking.stripe_checkout_session_id)["status"] == "expired"
    assert BookingRefund.objects.count() == 0
    again = booking_hold(
        tenant=tenant,
        package_slug="elopement",
        add_on_slugs=[],
        event_date=booking.event_date,
        couple_name="Next",
        email="next@example.com",
    )
    assert again.status == "held"


def test_payment_for_a_booking_canceled_before_payment_is_refunded_in_full(
    tenant, checkout, stripe_standin
):
    booking = checkout()
    booking_hold_release(tenant=tenant, booking_id=booking.pk)

    # The couple paid a moment before the session's expiry reached Stripe.
    outcome = pay_on_standin(stripe_standin, tenant, booking)
    run_outbox()

    booking.refresh_from_db()
    assert outcome == "paid after cancellation; refunding"
    assert (booking.status, booking.refunded_cents) == ("canceled", booking.amount_cents)
    assert len(refunds_requested(stripe_standin)) == 1


def test_cancel_twice_is_refused_and_refunds_once(tenant, checkout, stripe_standin):
    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)
    booking_cancel(tenant=tenant, booking_id=booking.pk)
    run_outbox()

    with pytest.raises(BookingNotCancelable):
        booking_cancel(tenant=tenant, booking_id=booking.pk)
    run_outbox()

    assert len(refunds_requested(stripe_standin)) == 1


def test_another_tenants_booking_cannot_be_canceled(tenant, other_tenant, checkout, stripe_standin):
    booking = checkout()

    with pytest.raises(BookingNotFound):
        booking_cancel(tenant=other_tenant, booking_id=booking.pk)

    booking.refresh_from_db()
    assert booking.status == "held"


def test_refunds_made_outside_altar_are_recorded_from_refund_events_once(
    tenant, checkout, stripe_standin
):
    """What Stripe sends for a dashboard refund: refund objects (empty
    metadata), pending first, then updated; a failed one is not counted."""
    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)
    booking.refresh_from_db()
    pi = booking.stripe_payment_intent_id

    def event(refund_id, amount, status):
        return {"id": refund_id, "object": "refund", "amount": amount, "status": status,
                "payment_intent": pi, "metadata": {}}  # fmt: skip

    pending = refund_record_from_event(tenant=tenant, refund=event("re_dash1", 40_000, "pending"))
    booking.refresh_from_db()
    refunded_while_pending = booking.refunded_cents
    succeeded = refund_record_from_event(
        tenant=tenant, refund=event("re_dash1", 40_000, "succeeded")
    )
    late_pending = refund_record_from_event(
        tenant=tenant, refund=event("re_dash1", 40_000, "pending")
    )
    failed = refund_record_from_event(tenant=tenant, refund=event("re_dash2", 1_000, "failed"))
    unknown = refund_record_from_event(
        tenant=tenant, refund={**event("re_x", 5, "succeeded"), "payment_intent": "pi_unknown"}
    )

    booking.refresh_from_db()
    assert (pending, succeeded, late_pending, failed, unknown) == (True, True, False, True, None)
    assert refunded_while_pending == 0
    assert booking.status == "confirmed"  # a partial dashboard refund is not a cancellation
    assert booking.refunded_cents == 40_000
    # round-half-up(16235 * 40000 / 162345) = round(4000.12) = 4000
    assert booking.commission_refunded_cents == 4_000
    assert sorted(BookingRefund.objects.values_list("stripe_refund_id", "status", "reason")) == [
        ("re_dash1", "succeeded", "stripe_dashboard"),
        ("re_dash2", "failed", "stripe_dashboard"),
    ]


def test_hold_failure_before_stripe_leaves_no_rows(tenant, catalog, unscoped):
    from bookings.errors import AddOnNotAllowed
    from bookings.models import BookingAddOn

    with pytest.raises(AddOnNotAllowed):
        booking_hold(
            tenant=tenant,
            package_slug="elopement",
            add_on_slugs=["flowers", "string-quartet"],
            event_date=days_ahead(60),
            couple_name="A",
            email="a@example.com",
        )

    assert (Booking.objects.count(), BookingAddOn.objects.count()) == (0, 0)


def test_refund_made_at_stripe_behind_a_500_is_found_not_made_twice(
    tenant, checkout, stripe_standin
):
    """The refund exists at Stripe but the answer was a 500 (Stripe stores it
    under the key): the next run finds it by its metadata and records it;
    no second refund, no new key."""
    from django_tasks_db.models import DBTaskResult

    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)
    stripe_standin.fail_next("POST", "/v1/refunds", status=500, after_create=True)

    booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=50_000)
    run_outbox()
    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    run_outbox()

    booking.refresh_from_db()
    (refund,) = BookingRefund.objects.all()
    assert (refund.status, refund.attempt, refund.amount_cents) == ("succeeded", 1, 50_000)
    assert booking.refunded_cents == 50_000
    assert len(refunds_requested(stripe_standin)) == 1
    assert [r["id"] for r in stripe_standin.refunds_of(booking.stripe_payment_intent_id)] == [
        refund.stripe_refund_id
    ]
