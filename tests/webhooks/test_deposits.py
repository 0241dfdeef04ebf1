"""Deposits and balances (issue 13), end to end: the API's checkout, the
stand-in's hosted page and off-session charges, signed webhooks, the outbox
and the `charge_balances` sweep. Time is passed explicitly (`now=`)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from bookings import balances
from bookings.agreements import policy_save
from bookings.manage_links import manage_path, manage_token
from bookings.models import (
    Booking,
    BookingPolicy,
    BookingRefund,
    BookingReminder,
    CancellationRequest,
)
from bookings.services import booking_cancel
from tenants.scoping import scopes_disabled, tenant_scope
from tests.concurrency import run_together
from tests.conftest import run_outbox
from tests.factories import days_ahead

DECLINED = "4000000000000341"  # attaches, every later charge is declined
AUTH_REQUIRED = "4000002760003184"  # the bank asks for authentication every time
TOTAL = 150_000 + 12_345  # elopement + flowers (checkout_body)


@pytest.fixture
def deposit_plan(tenant, stripe_standin):
    """30 % now, the rest 30 days before the wedding; a Connect account that
    takes destination charges (so application fees are real)."""
    account = stripe_standin.create_account(charges_enabled=True, transfers="active")
    tenant.plan_kind = "deposit_percent"
    tenant.plan_deposit_percent = 30
    tenant.plan_balance_days_before = 30
    tenant.commission_bps = 1234
    tenant.stripe_account_id = account["id"]
    tenant.stripe_charges_enabled = tenant.stripe_transfers_active = True
    tenant.save()
    return tenant


def pay_deposit(stripe_standin, booking, card="4242424242424242") -> Booking:
    stripe_standin.pay(booking.stripe_checkout_session_id, card=card)
    run_outbox()  # the confirmation e-mail, the saved card
    booking.refresh_from_db()
    return booking


def due_day(booking) -> dt.datetime:
    return dt.datetime.combine(booking.balance_due_on, dt.time(12), tzinfo=dt.UTC)


def charge_due(booking, **delta) -> int:
    claimed = balances.balances_claim(now=due_day(booking) + dt.timedelta(**delta))
    run_outbox()
    return claimed


def test_deposit_checkout_charges_the_deposit_saves_the_card_and_confirms(
    deposit_plan, checkout, webhooks, stripe_standin, tenant_api
):
    booking = checkout(event_date=days_ahead(90).isoformat())

    session = stripe_standin.get(booking.stripe_checkout_session_id)
    deposit = 48_704  # round-half-up(162,345 * 30 %)
    assert (booking.deposit_cents, booking.balance_due_on) == (deposit, days_ahead(60))
    assert booking.payment_plan == {
        "kind": "deposit",
        "deposit_percent": 30,
        "deposit_cents": None,
        "deposit_refundable": True,
        "balance_days_before": 30,
    }
    assert session["amount_total"] == deposit
    assert session["customer"] == booking.stripe_customer_id != ""
    create = next(r for r in stripe_standin.requests if r.path == "/v1/checkout/sessions")
    pi_data = create.params["payment_intent_data"]
    assert pi_data["setup_future_usage"] == "off_session"
    # The deposit's share of the commission (20,033 * 48,704 / 162,345).
    assert pi_data["application_fee_amount"] == "6010"

    booking = pay_deposit(stripe_standin, booking)

    assert booking.status == Booking.Status.CONFIRMED
    assert (booking.paid_cents, booking.balance_state) == (deposit, "scheduled")
    assert booking.card_last4 == "4242"
    assert booking.stripe_payment_method_id.startswith("pm_")
    assert list(booking.payments.values_list("kind", "status", "amount_cents")) == [
        ("deposit", "succeeded", deposit)
    ]
    assert balances.balance_due_cents(booking) == TOTAL - deposit
    public = tenant_api.get(f"/api/v1/bookings/{booking.pk}").json()
    assert {k: public[k] for k in ("paid_cents", "refunded_cents", "balance_due_cents")} == {
        "paid_cents": deposit,
        "refunded_cents": 0,
        "balance_due_cents": TOTAL - deposit,
    }
    assert public["balance_due_on"] == days_ahead(60).isoformat()
    assert public["payment_plan"]["deposit_percent"] == 30


@pytest.mark.django_db(transaction=True)
def test_balance_is_charged_on_the_due_date_exactly_once_by_two_workers_and_a_rerun(
    deposit_plan, checkout, webhooks, stripe_standin
):
    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()))

    # The day before (tenant's today): nothing is due yet.
    assert charge_due(booking, days=-1) == 0
    # On the due date two sweeps run at the same moment, then one again.
    now = due_day(booking)

    def sweep():
        with scopes_disabled():  # the command's own context, in each thread
            return balances.balances_claim(now=now)

    claims = run_together([sweep, sweep])
    rerun = balances.balances_claim(now=now)
    run_outbox()
    run_outbox()  # a second worker pass finds nothing left to do
    stripe_standin.flush_events()  # payment_intent.succeeded, delivered again

    assert sorted(claims) == [0, 1] and rerun == 0
    charges = [
        r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/payment_intents"
    ]
    assert len(charges) == 1
    params = charges[0].params
    assert (params["off_session"], params["confirm"]) == ("true", "true")
    assert params["amount"] == str(TOTAL - 48_704)
    assert params["transfer_data"] == {"destination": deposit_plan.stripe_account_id}
    booking.refresh_from_db()
    assert (booking.paid_cents, booking.balance_state) == (TOTAL, "paid")
    fees = list(
        booking.payments.order_by("id").values_list("kind", "status", "application_fee_cents")
    )
    assert fees == [("deposit", "succeeded", 6010), ("balance", "succeeded", 20_033 - 6010)]
    assert int(params["application_fee_amount"]) == 20_033 - 6010
    assert booking.commission_cents == 20_033  # round-half-up(162,345 * 12.34 %)


@pytest.mark.parametrize(
    "card,failure", [(DECLINED, "card_declined"), (AUTH_REQUIRED, "authentication_required")]
)
def test_a_failed_balance_sends_a_pay_link_and_reminders_until_paid_through_the_link(
    deposit_plan, checkout, webhooks, stripe_standin, card, failure
):
    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()), card)
    mail.outbox.clear()

    assert charge_due(booking) == 1
    stripe_standin.flush_events()  # payment_intent.payment_failed: already recorded

    booking.refresh_from_db()
    balance = booking.payments.get(kind="balance")
    assert (balance.status, balance.failure) == ("failed", failure)
    assert booking.balance_state == "failed" and booking.paid_cents == 48_704
    assert [m.subject for m in mail.outbox] == ["We could not charge your balance of $1,136.41"]
    assert "/book/manage/" in mail.outbox[0].body or "manage" in mail.outbox[0].body

    # Reminders at the configured days after the due date, each once.
    assert balances.reminders_queue(now=due_day(booking) + dt.timedelta(days=7)) == 2
    assert balances.reminders_queue(now=due_day(booking) + dt.timedelta(days=8)) == 0
    run_outbox()
    kinds = set(BookingReminder.objects.filter(booking=booking).values_list("kind", flat=True))
    assert kinds == {"balance_failed", "balance_overdue_3", "balance_overdue_7"}
    assert len(mail.outbox) == 3

    # The couple pays through the link on "manage my booking" (a Checkout
    # Session for the balance); coming back reuses the open session.
    page = Client().get(manage_path(booking.pk))
    assert "Pay the balance of $1,136.41" in page.content.decode()
    pay = Client().post(manage_path(booking.pk) + "pay-balance/")
    assert pay.status_code == 303
    url = pay["Location"]
    assert balances.pay_link_open(tenant=deposit_plan, booking_id=booking.pk) == url
    link = booking.payments.get(status="open")
    session = stripe_standin.get(link.stripe_checkout_session_id)
    assert (session["amount_total"], session["customer"]) == (
        TOTAL - 48_704,
        booking.stripe_customer_id,
    )
    stripe_standin.pay(session["id"])

    booking.refresh_from_db()
    assert (booking.paid_cents, booking.balance_state) == (TOTAL, "paid")
    assert balances.balance_due_cents(booking) == 0
    link.refresh_from_db()
    assert (link.status, link.application_fee_cents) == ("succeeded", 20_033 - 6010)
    # Nothing more is reminded once paid.
    assert balances.reminders_queue(now=due_day(booking) + dt.timedelta(days=14)) == 0


def test_overdue_balance_staff_cancel_refunds_the_deposit(
    deposit_plan, checkout, webhooks, stripe_standin
):
    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()), DECLINED)
    charge_due(booking)

    booking_cancel(tenant=deposit_plan, booking_id=booking.pk, seen_paid_cents=48_704)
    run_outbox()

    booking.refresh_from_db()
    refund = BookingRefund.objects.get(booking=booking)
    deposit = booking.payments.get(kind="deposit")
    assert (refund.payment_id, refund.amount_cents, refund.status) == (
        deposit.pk,
        48_704,
        "succeeded",
    )
    assert (booking.status, booking.refunded_cents) == ("canceled", 48_704)
    assert booking.commission_refunded_cents == 6010
    assert balances.balance_due_cents(booking) == 0


def test_non_refundable_deposit_is_kept_by_default_on_cancel(
    deposit_plan, checkout, webhooks, stripe_standin
):
    deposit_plan.plan_deposit_refundable = False
    deposit_plan.save()
    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()), DECLINED)
    charge_due(booking)

    booking_cancel(tenant=deposit_plan, booking_id=booking.pk)
    run_outbox()

    assert not BookingRefund.objects.filter(booking=booking).exists()
    booking.refresh_from_db()
    assert (booking.status, booking.refunded_cents) == ("canceled", 0)


def test_a_refund_of_both_payments_goes_most_recent_first_each_with_its_own_key(
    deposit_plan, checkout, webhooks, stripe_standin
):
    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()))
    charge_due(booking)
    balance = booking.payments.get(kind="balance")

    booking_cancel(tenant=deposit_plan, booking_id=booking.pk, refund_cents=TOTAL - 1000)
    run_outbox()

    refunds = list(BookingRefund.objects.filter(booking=booking).order_by("id"))
    assert [(r.payment.kind, r.amount_cents, r.status) for r in refunds] == [
        ("balance", TOTAL - 48_704, "succeeded"),
        ("deposit", 48_704 - 1000, "succeeded"),
    ]
    sent = [r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/refunds"]
    assert [r.params["payment_intent"] for r in sent] == [
        balance.stripe_payment_intent_id,
        booking.payments.get(kind="deposit").stripe_payment_intent_id,
    ]
    assert len({r.headers.get("Idempotency-Key") for r in sent}) == 2
    booking.refresh_from_db()
    assert booking.refunded_cents == TOTAL - 1000
    # Each payment's commission goes back in proportion to what it returned.
    assert booking.commission_refunded_cents == (20_033 - 6010) + round(
        6010 * (48_704 - 1000) / 48_704
    )


def test_staff_record_an_offline_payment_for_a_failed_balance(
    deposit_plan, checkout, webhooks, stripe_standin
):
    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()), DECLINED)
    charge_due(booking)

    payment = balances.offline_payment_record(
        tenant=deposit_plan,
        booking_id=booking.pk,
        amount_cents=TOTAL - 48_704,
        note="bank transfer",
    )

    booking.refresh_from_db()
    assert (payment.kind, payment.status) == ("offline", "succeeded")
    assert (booking.paid_cents, booking.balance_state) == (TOTAL, "paid")
    shares = booking.payments.filter(status="succeeded").values_list(
        "application_fee_cents", flat=True
    )
    assert sum(shares) == booking.commission_cents
    from tenants.models import AuditEntry

    assert AuditEntry.objects.filter(action="booking.offline_payment").count() == 1


def test_a_couple_whose_balance_was_paid_offline_asks_staff_instead_of_canceling_online(
    deposit_plan, checkout, webhooks, stripe_standin, tenant_api
):
    """The policy would give back money Stripe never held (a bank transfer):
    Altar refunds through Stripe only, so the couple's online cancel is
    refused `paid_outside_stripe` and changes nothing, and the manage page
    offers the request to staff instead (found by the money machine: the
    cancel raised RefundTooLarge, a 500)."""
    with tenant_scope(deposit_plan):
        policy_save(
            tenant=deposit_plan,
            policy=BookingPolicy(
                cancellation_tiers=[{"days_before": 0, "refund_percent": 100}],
                self_cancel_allowed=True,
            ),
        )
    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()), DECLINED)
    charge_due(booking)
    balances.offline_payment_record(
        tenant=deposit_plan, booking_id=booking.pk, amount_cents=TOTAL - 48_704
    )
    token = {"HTTP_X_MANAGE_TOKEN": manage_token(booking.pk)}

    quote = tenant_api.get(f"/api/v1/bookings/{booking.pk}/cancellation", **token)
    cancel = tenant_api.post(
        f"/api/v1/bookings/{booking.pk}/cancel",
        {"expected_refund_cents": TOTAL},
        format="json",
        **token,
    )
    page = Client().get(manage_path(booking.pk)).content.decode()
    asked = tenant_api.post(
        f"/api/v1/bookings/{booking.pk}/cancellation-request",
        {"message": ""},
        format="json",
        **token,
    )

    assert (quote.json()["self_cancel_allowed"], quote.json()["refusal"]) == (
        False,
        "paid_outside_stripe",
    )
    assert cancel.status_code == 409
    assert cancel.json()["error"]["code"] == "policy_forbids_change"
    assert cancel.json()["error"]["fields"]["policy"][0]["code"] == "paid_outside_stripe"
    booking.refresh_from_db()
    assert (booking.status, booking.paid_cents, booking.refunds.count()) == ("confirmed", TOTAL, 0)
    assert "Part of what you paid went to" in page and 'id="cancel-request-form"' in page
    assert asked.status_code == 201
    assert CancellationRequest.objects.filter(booking=booking).count() == 1


def test_a_booking_made_after_the_balance_would_be_due_pays_in_full(
    deposit_plan, checkout, webhooks, stripe_standin
):
    booking = checkout(event_date=days_ahead(20).isoformat())

    session = stripe_standin.get(booking.stripe_checkout_session_id)
    assert (booking.balance_due_on, booking.deposit_cents) == (None, 0)
    assert session["amount_total"] == TOTAL and session["customer"] is None
    booking = pay_deposit(stripe_standin, booking)
    assert (booking.paid_cents, booking.balance_state) == (TOTAL, "")
    assert balances.balances_claim(now=timezone.now() + dt.timedelta(days=30)) == 0


def test_an_unclear_answer_is_resolved_by_looking_the_charge_up(
    deposit_plan, checkout, webhooks, stripe_standin
):
    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()))
    # Stripe charges the card but the answer is lost (500 after the work).
    stripe_standin.fail_next("POST", "/v1/payment_intents", 500, after_create=True)
    balances.balances_claim(now=due_day(booking))
    run_outbox()  # first try: unclear, retry scheduled
    payment = booking.payments.get(kind="balance")
    assert payment.unclear_since is not None and payment.status == "requested"

    from django_tasks_db.models import DBTaskResult

    DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
    run_outbox()

    payment.refresh_from_db()
    assert payment.status == "succeeded"
    charges = [
        r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/payment_intents"
    ]
    assert len(charges) == 1  # found by its metadata, never charged twice
    booking.refresh_from_db()
    assert booking.paid_cents == TOTAL


def test_the_balance_due_date_follows_a_date_change(
    deposit_plan, checkout, webhooks, stripe_standin
):
    from bookings.services import booking_date_change

    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()))
    assert booking.balance_due_on == days_ahead(60)

    later = booking_date_change(
        tenant=deposit_plan, booking_id=booking.pk, new_date=days_ahead(120), by="staff"
    )
    booking.refresh_from_db()
    moved_due = booking.balance_due_on
    booking_date_change(
        tenant=deposit_plan, booking_id=booking.pk, new_date=days_ahead(20), by="staff"
    )
    booking.refresh_from_db()

    assert (later.from_date, later.to_date) == (days_ahead(90), days_ahead(120))
    assert moved_due == days_ahead(90)  # 30 days before the new wedding
    # Moved closer than 30 days: the balance is due today (the next sweep).
    assert booking.balance_due_on == days_ahead(0)
    assert booking.balance_state == "scheduled"


# --- found by the money state machine (tests/model, docs/model-test.md) ---------------


def test_a_lower_price_on_a_deposit_booking_shrinks_the_balance_instead_of_refunding(
    deposit_plan, checkout, webhooks, stripe_standin, catalog
):
    from bookings.services import booking_date_change
    from catalog.models import Package

    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()))
    Package.objects.filter(pk=catalog.package.pk).update(price_cents=120_000)

    change = booking_date_change(
        tenant=deposit_plan, booking_id=booking.pk, new_date=days_ahead(100), by="staff"
    )
    booking.refresh_from_db()
    charge_due(booking)

    booking.refresh_from_db()
    assert (change.refund_cents, change.due_cents) == (0, 0)
    assert not BookingRefund.objects.filter(booking=booking).exists()
    # 120,000 + 12,345: the deposit and the (smaller) balance pay exactly that.
    assert (booking.amount_cents, booking.paid_cents, booking.balance_state) == (
        132_345,
        132_345,
        "paid",
    )
    assert list(booking.payments.order_by("id").values_list("kind", "amount_cents")) == [
        ("deposit", 48_704),
        ("balance", 132_345 - 48_704),
    ]


def test_a_date_change_paid_through_its_link_joins_the_ledger_and_the_balance_is_unchanged(
    deposit_plan, checkout, webhooks, stripe_standin, catalog
):
    from bookings.models import BookingDateChange, BookingPolicy
    from bookings.services import booking_date_change
    from catalog.models import Package

    BookingPolicy.objects.create(
        tenant=deposit_plan, date_change_allowed=True, date_change_fee_cents=5_000
    )
    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()))
    Package.objects.filter(pk=catalog.package.pk).update(price_cents=160_000)
    booking_date_change(
        tenant=deposit_plan, booking_id=booking.pk, new_date=days_ahead(100), by="couple"
    )
    run_outbox()  # opens the pay link
    change = BookingDateChange.objects.get(booking=booking)
    stripe_standin.pay(change.stripe_checkout_session_id)  # webhook: recorded

    booking.refresh_from_db()
    paid = booking.payments.get(kind="change")
    session = stripe_standin.get(change.stripe_checkout_session_id)
    assert (paid.status, paid.amount_cents, paid.stripe_payment_intent_id) == (
        "succeeded",
        15_000,
        session["payment_intent"],
    )
    assert paid.application_fee_cents == 1_851  # round-half-up(15,000 * 12.34 %)
    # The price and the fee are owed in all; the balance is what it was.
    assert (booking.amount_cents, booking.paid_cents) == (TOTAL + 15_000, 48_704 + 15_000)
    assert balances.balance_due_cents(booking) == TOTAL - 48_704
    charge_due(booking)  # 30 days before the new date
    booking.refresh_from_db()
    assert booking.paid_cents == booking.amount_cents
    # The payments' application fees add up to the commission exactly.
    fees = booking.payments.filter(status="succeeded").values_list(
        "application_fee_cents", flat=True
    )
    assert sum(fees) == booking.commission_cents == 20_033 + 1_851


def test_a_dispute_on_the_balance_charge_is_recorded_on_the_booking(
    deposit_plan, checkout, webhooks, stripe_standin
):
    from bookings.models import BookingDispute

    booking = pay_deposit(stripe_standin, checkout(event_date=days_ahead(90).isoformat()))
    charge_due(booking)
    balance = booking.payments.get(kind="balance")

    stripe_standin.open_dispute(balance.stripe_payment_intent_id)

    dispute = BookingDispute.objects.get()
    assert (dispute.booking_id, dispute.amount_cents) == (booking.pk, TOTAL - 48_704)
