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
    PaymentProviderError,
    RefundTooLarge,
)
from bookings.models import Booking, BookingRefund
from bookings.services import (
    booking_cancel,
    booking_expire,
    booking_hold,
    booking_mark_paid,
    booking_record_refunds,
    commission_for,
)
from tests.bookings.conftest import checkout_body, days_ahead, pay_on_standin
from tests.conftest import run_outbox
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def checkout(tenant_api, catalog, stripe_standin, unscoped):
    """Check out a date through the API; returns the booking."""

    def start(**overrides) -> Booking:
        response = tenant_api.post("/api/v1/checkout", checkout_body(**overrides), format="json")
        assert response.status_code == 201, response.json()
        return Booking.objects.get(pk=response.json()["booking"]["id"])

    return start


def refunds_requested(standin) -> list:
    return [r for r in standin.requests if r.method == "POST" and r.path == "/v1/refunds"]


def test_commission_rounds_half_up():
    assert commission_for(amount_cents=162_345, bps=1000) == 16_235  # 16234.5 -> up
    assert commission_for(amount_cents=162_344, bps=1000) == 16_234  # 16234.4 -> down
    assert commission_for(amount_cents=999_999_999, bps=5000) == 500_000_000
    assert commission_for(amount_cents=0, bps=1000) == 0


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
    assert refund_call.idempotency_key == f"altar-booking-{booking.pk}-refund-all"
    assert BookingRefund.objects.filter(booking=booking, reason="date_taken").count() == 1
    assert [m.to for m in mail.outbox] == [["ada@example.com"]]  # the couple hears about it


def test_failed_automatic_refund_is_retried_with_backoff_and_made_once(
    tenant, checkout, stripe_standin
):
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
    assert (booking.status, booking.refunded_cents) == ("canceled", 0)
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
    assert replayed == "payment already recorded"
    assert booking.refunded_cents == booking.amount_cents
    assert BookingRefund.objects.filter(booking=booking).count() == 1
    # Two attempts reached Stripe (the first failed), one refund exists there.
    assert len(refunds_requested(stripe_standin)) == 2
    (recorded,) = BookingRefund.objects.all()
    assert stripe_standin.get(recorded.stripe_refund_id)["amount"] == booking.amount_cents


def test_refund_task_gives_up_after_max_attempts_and_stays_visible(
    tenant, checkout, stripe_standin
):
    from django_tasks_db.models import DBTaskResult

    from bookings.tasks import MAX_ATTEMPTS, booking_refund

    booking = checkout()
    booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=0)
    stripe_standin.pay(booking.stripe_checkout_session_id)
    stripe_standin.fail_next("POST", "/v1/refunds", status=500)
    booking_refund.enqueue(
        tenant_id=tenant.pk,
        booking_id=str(booking.pk),
        amount_cents=100,
        idempotency_key="k-last",
        reason="date_taken",
        attempt=MAX_ATTEMPTS,
    )

    run_outbox()

    (failed,) = DBTaskResult.objects.filter(status="FAILED")
    assert failed.task_path == "bookings.tasks.booking_refund"
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


def test_cancel_when_stripe_fails_changes_nothing(tenant, checkout, stripe_standin):
    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)
    stripe_standin.fail_next("POST", "/v1/refunds", status=500)

    with pytest.raises(PaymentProviderError):
        booking_cancel(tenant=tenant, booking_id=booking.pk)

    booking.refresh_from_db()
    assert (booking.status, booking.refunded_cents) == ("confirmed", 0)
    assert BookingRefund.objects.count() == 0


def test_cancel_a_held_booking_frees_the_date_without_refund(
    tenant, checkout, stripe_standin, catalog
):
    booking = checkout()

    booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=0)

    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == ("canceled", "staff_before_payment")
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
    booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=0)

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

    with pytest.raises(BookingNotCancelable):
        booking_cancel(tenant=tenant, booking_id=booking.pk)

    assert len(refunds_requested(stripe_standin)) == 1


def test_another_tenants_booking_cannot_be_canceled(tenant, other_tenant, checkout, stripe_standin):
    booking = checkout()

    with pytest.raises(BookingNotFound):
        booking_cancel(tenant=other_tenant, booking_id=booking.pk)

    booking.refresh_from_db()
    assert booking.status == "held"


def test_dashboard_refunds_are_recorded_once_by_refund_id(tenant, checkout, stripe_standin):
    booking = checkout()
    pay_on_standin(stripe_standin, tenant, booking)
    booking.refresh_from_db()
    refunds = [
        {"id": "re_dash1", "amount": 40_000, "status": "succeeded"},
        {"id": "re_dash2", "amount": 1_000, "status": "failed"},
    ]

    first = booking_record_refunds(
        tenant=tenant, payment_intent_id=booking.stripe_payment_intent_id, refunds=refunds
    )
    second = booking_record_refunds(
        tenant=tenant, payment_intent_id=booking.stripe_payment_intent_id, refunds=refunds
    )
    unknown = booking_record_refunds(tenant=tenant, payment_intent_id="pi_unknown", refunds=refunds)

    booking.refresh_from_db()
    assert (first, second, unknown) == (2, 0, None)
    assert booking.status == "confirmed"  # a partial dashboard refund is not a cancellation
    assert booking.refunded_cents == 40_000
    # round-half-up(16235 * 40000 / 162345) = round(4000.12) = 4000
    assert booking.commission_refunded_cents == 4_000


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
