"""Model-based test of the money paths: a Hypothesis state machine drives
the real platform (services, the webhook endpoint with real signatures, the
outbox worker, the Stripe stand-in) through random histories, and checks
the money invariants after every step.

Stripe's deliveries are a pool: every event the stand-in sends is captured
instead of posted, and rules deliver a pending one (in any order), deliver
one again, or drain everything. So histories include late, duplicated and
reordered webhooks, Stripe 5xx (also after the refund was made), staff and
couple cancels, dashboard refunds, pending refunds settling or failing,
disputes, and a task run twice (a worker dying after its work).

Budget: the `default` profile runs in `make test` (a bounded number of
histories); `HYPOTHESIS_PROFILE=soak` (`make soak`) runs many more. A
failure prints the shrunk history as the steps Hypothesis replays.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field

import pytest
from django.core import mail
from django.db import transaction
from django.db.models import Count, Sum
from django.test import Client
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from bookings import money, reconcile
from bookings import services as bookings
from bookings.errors import (
    BookingChangedMeanwhile,
    BookingNotCancelable,
    DateUnavailable,
    HoldNotReleasable,
    RefundTooLarge,
)
from bookings.models import Booking, BookingDispute, BookingRefund
from tenants.audit import actor_context
from tenants.models import AuditEntry
from tenants.scoping import tenant_scope
from tests.bookings.conftest import make_catalog
from tests.conftest import run_outbox
from tests.factories import TenantFactory
from tests.webhooks.conftest import PLATFORM_SECRET, record_endpoint
from tools import stripe_conformance
from tools.stripe_standin import StandinError, sign_payload

settings.register_profile(
    "default",
    max_examples=25,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=False,
    print_blob=True,
)
settings.register_profile(
    "soak",
    max_examples=500,
    stateful_step_count=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    print_blob=True,
)
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

DATES = [timezone.now().date() + dt.timedelta(days=40 + i) for i in range(3)]
REFUND_STATUS = {"pending": "pending", "succeeded": "succeeded", "failed": "failed"}


@dataclass
class Pool:
    """Stripe's deliveries, captured: `pending` not yet delivered, `sent`
    delivered at least once."""

    pending: list[tuple[str, bytes]] = field(default_factory=list)
    sent: list[tuple[str, bytes]] = field(default_factory=list)


def post(path: str, payload: bytes) -> int:
    return (
        Client()
        .post(
            path,
            data=payload,
            content_type="application/json",
            HTTP_STRIPE_SIGNATURE=sign_payload(payload, PLATFORM_SECRET),
        )
        .status_code
    )


def make_machine(standin, path):
    class MoneyMachine(RuleBasedStateMachine):
        """One history: a fresh tenant, catalog and stand-in; rolled back after."""

        def __init__(self):
            super().__init__()
            self.atomic = transaction.atomic()
            self.atomic.__enter__()
            standin.reset()
            self.pool = Pool()
            standin.configure_webhooks(
                url="http://testserver" + path, secret=PLATFORM_SECRET, sender=self.capture
            )
            mail.outbox = []
            self.tenant = TenantFactory(min_notice_days=0, commission_bps=1250)
            make_catalog(self.tenant)
            self.booking_ids: list[str] = []
            self.couples = 0
            self.forms: list[tuple[str, int]] = []  # cancel forms open: (booking, paid shown)

        def teardown(self):
            findings = stripe_conformance.audit(standin)
            transaction.set_rollback(True)
            self.atomic.__exit__(None, None, None)
            assert not findings, "\n".join(findings)

        def capture(self, url: str, payload: bytes, headers: dict) -> int:
            self.pool.pending.append((json.loads(payload)["id"], payload))
            return 200

        # --- helpers ---------------------------------------------------------

        def booking(self, i: int) -> Booking | None:
            if not self.booking_ids:
                return None
            with tenant_scope(self.tenant):
                return Booking.objects.get(pk=self.booking_ids[i % len(self.booking_ids)])

        def deliver(self, payload: bytes) -> None:
            assert post(path, payload) == 200

        def deliver_latest(self, count: int = 1) -> None:
            """Stripe delivers the newest `count` events right away, in order."""
            items = self.pool.pending[-count:]
            del self.pool.pending[-count:]
            for item in items:
                self.deliver(item[1])
                self.pool.sent.append(item)

        # --- the couple, Stripe's pages ----------------------------------------

        @initialize(days=st.lists(st.sampled_from(range(len(DATES))), min_size=1, max_size=3))
        def couples_check_out(self, days):
            """Every history starts with checkouts, so its steps have bookings to act on."""
            for day in days:
                self.checkout(day)

        @rule(day=st.sampled_from(range(len(DATES))))
        def checkout(self, day):
            self.couples += 1
            try:
                with tenant_scope(self.tenant), actor_context("couple", "couple (api)"):
                    started = bookings.booking_checkout(
                        tenant=self.tenant,
                        package_slug="elopement",
                        add_on_slugs=["flowers"],
                        event_date=DATES[day],
                        couple_name="Model",
                        email=f"couple{self.couples}@example.com",
                    )
            except DateUnavailable:
                return
            self.booking_ids.append(str(started.booking.pk))

        @precondition(lambda self: self.booking_ids)
        @rule(i=st.integers(0, 50), delayed=st.booleans(), webhook_now=st.booleans())
        def pay(self, i, delayed, webhook_now):
            booking = self.booking(i)
            try:
                standin.pay(booking.stripe_checkout_session_id, async_payment=delayed)
            except StandinError:
                return  # the session is no longer open: nothing to pay
            if webhook_now:  # else it lands later, whenever the pool delivers it
                self.deliver_latest()

        @precondition(lambda self: self.booking_ids)
        @rule(i=st.integers(0, 50), succeed=st.booleans())
        def delayed_payment_settles(self, i, succeed):
            booking = self.booking(i)
            try:
                if succeed:
                    standin.async_succeed(booking.stripe_checkout_session_id)
                else:
                    standin.async_fail(booking.stripe_checkout_session_id)
            except StandinError:
                pass

        @precondition(lambda self: self.booking_ids)
        @rule(i=st.integers(0, 50))
        def couple_cancels_on_stripes_page(self, i):
            booking = self.booking(i)
            with tenant_scope(self.tenant):
                bookings.booking_expire(
                    tenant=self.tenant, booking_id=booking.pk, reason="couple_canceled"
                )

        # --- staff -------------------------------------------------------------

        @precondition(lambda self: self.booking_ids)
        @rule(i=st.integers(0, 50), choice=st.sampled_from(["full", "partial", "none"]))
        def staff_cancel(self, i, choice):
            booking = self.booking(i)
            seen = booking.paid_cents  # what the form showed
            refund = {"full": None, "partial": seen // 3, "none": 0}[choice]
            try:
                with tenant_scope(self.tenant), actor_context("staff", "staff"):
                    bookings.booking_cancel(
                        tenant=self.tenant,
                        booking_id=booking.pk,
                        refund_cents=refund,
                        seen_paid_cents=seen,
                    )
            except (BookingNotCancelable, RefundTooLarge, BookingChangedMeanwhile):
                pass

        @precondition(lambda self: self.booking_ids)
        @rule(i=st.integers(0, 50))
        def staff_opens_cancel_form(self, i):
            booking = self.booking(i)
            self.forms.append((str(booking.pk), booking.paid_cents))

        @precondition(lambda self: self.forms)
        @rule(index=st.integers(0, 20), choice=st.sampled_from(["full", "partial", "none"]))
        def staff_confirms_cancel_form(self, index, choice):
            """The cancel form submitted a while after it was shown: the
            payment or refunds may have moved meanwhile."""
            booking_id, seen = self.forms.pop(index % len(self.forms))
            refund = {"full": None, "partial": seen // 3, "none": 0}[choice]
            try:
                with tenant_scope(self.tenant), actor_context("staff", "staff"):
                    bookings.booking_cancel(
                        tenant=self.tenant,
                        booking_id=booking_id,
                        refund_cents=refund,
                        seen_paid_cents=seen,
                    )
            except (BookingNotCancelable, RefundTooLarge, BookingChangedMeanwhile):
                pass

        @precondition(lambda self: self.booking_ids)
        @rule(i=st.integers(0, 50))
        def staff_release_hold(self, i):
            booking = self.booking(i)
            try:
                with tenant_scope(self.tenant), actor_context("staff", "staff"):
                    bookings.booking_hold_release(tenant=self.tenant, booking_id=booking.pk)
            except (HoldNotReleasable, BookingNotCancelable):
                pass

        # --- Stripe's side -----------------------------------------------------

        @precondition(lambda self: self.booking_ids)
        @rule(
            i=st.integers(0, 50),
            part=st.sampled_from([None, 1, 2]),
            pending=st.booleans(),
            webhooks_now=st.booleans(),
        )
        def refund_in_stripe_dashboard(self, i, part, pending, webhooks_now):
            booking = self.booking(i)
            if not booking.stripe_payment_intent_id:
                return
            amount = None if part is None else booking.amount_cents * part // 5
            before = standin._next_refund_status
            standin.refunds_pending(pending)
            try:
                standin.refund_in_dashboard(booking.stripe_payment_intent_id, amount)
            except (StandinError, KeyError):
                return
            finally:
                standin.refunds_pending(before == "pending")
            if webhooks_now:
                self.deliver_latest(2)  # refund.created, charge.refunded

        @rule(pending=st.booleans())
        def altars_refunds_start_pending(self, pending):
            standin.refunds_pending(pending)

        @rule(index=st.integers(0, 20), succeed=st.booleans())
        def pending_refund_settles(self, index, succeed):
            pending = [
                e["data"]["object"]["id"]
                for e in standin.events
                if e["type"] == "refund.created"
                and standin.get(e["data"]["object"]["id"])["status"] == "pending"
            ]
            if not pending:
                return
            refund_id = pending[index % len(pending)]
            if succeed:
                standin.settle_refund(refund_id)
            else:
                standin.fail_refund(refund_id)

        @precondition(lambda self: self.booking_ids)
        @rule(i=st.integers(0, 50))
        def dispute_opens(self, i):
            booking = self.booking(i)
            if not booking.stripe_payment_intent_id:
                return
            try:
                standin.open_dispute(booking.stripe_payment_intent_id)
            except StandinError:
                pass

        @rule(index=st.integers(0, 20), won=st.booleans())
        def dispute_closes(self, index, won):
            open_ = sorted(
                {
                    e["data"]["object"]["id"]
                    for e in standin.events
                    if e["type"] == "charge.dispute.created"
                    and standin.get(e["data"]["object"]["id"])["status"] == "needs_response"
                }
            )
            if open_:
                standin.close_dispute(open_[index % len(open_)], won=won)

        @rule(after_create=st.booleans())
        def next_refund_call_gets_a_5xx(self, after_create):
            standin.fail_next("POST", "/v1/refunds", status=500, after_create=after_create)

        # --- deliveries and the outbox -----------------------------------------

        @rule(index=st.integers(0, 20))
        def stripe_delivers_one(self, index):
            standin.flush_events()
            if not self.pool.pending:
                return
            item = self.pool.pending.pop(index % len(self.pool.pending))
            self.deliver(item[1])
            self.pool.sent.append(item)

        @precondition(lambda self: self.pool.sent)
        @rule(index=st.integers(0, 20))
        def stripe_delivers_again(self, index):
            event_id, payload = self.pool.sent[index % len(self.pool.sent)]
            label = f"stripe:{event_id}"
            before = AuditEntry.objects.filter(actor_label=label).count()
            self.deliver(payload)
            # Every event has exactly one effect: a redelivery changes nothing.
            assert AuditEntry.objects.filter(actor_label=label).count() == before

        @rule()
        def outbox_runs(self):
            run_outbox()

        @rule(index=st.integers(0, 20))
        def worker_dies_and_a_task_runs_again(self, index):
            done = list(
                DBTaskResult.objects.filter(status="SUCCESSFUL").order_by("enqueued_at", "id")
            )
            if not done:
                return
            result = done[index % len(done)]
            task = import_string(result.task_path)
            task.call(*result.args_kwargs["args"], **result.args_kwargs["kwargs"])

        @rule()
        def everything_settles(self):
            """Stripe delivers everything, the outbox drains (retries brought
            forward): then Altar's ledger must equal Stripe's."""
            for _ in range(20):
                standin.flush_events()
                while self.pool.pending:
                    item = self.pool.pending.pop(0)
                    self.deliver(item[1])
                    self.pool.sent.append(item)
                DBTaskResult.objects.filter(status="READY").update(run_after=timezone.now())
                if not run_outbox() and not self.pool.pending and not standin._outbox:
                    break
            self.ledgers_agree()

        def ledgers_agree(self):
            with tenant_scope(self.tenant):
                differences = reconcile.compare(
                    stripe=reconcile.stripe_books(since=None), tenant=self.tenant, since=None
                )
                assert [d.message for d in differences] == []
                assert not BookingRefund.objects.filter(status="requested").exists()
                for booking in Booking.objects.all():
                    pi = booking.stripe_payment_intent_id
                    if not pi or standin.get(pi) is None:
                        continue
                    charge = standin.get(standin.get(pi)["latest_charge"])
                    at_stripe = sorted(
                        (r["id"], r["amount"], r["status"]) for r in standin.refunds_of(pi)
                    )
                    # Refunds Stripe refused outright (a disputed charge) never reached it.
                    ours = sorted(
                        (r.stripe_refund_id, r.amount_cents, r.status)
                        for r in BookingRefund.objects.filter(
                            booking=booking, stripe_refund_id__isnull=False
                        )
                    )
                    assert ours == at_stripe
                    paid = charge["amount"] if charge["status"] == "succeeded" else 0
                    assert booking.paid_cents == paid
                    disputes = sorted(
                        (d.stripe_dispute_id, d.status)
                        for d in BookingDispute.objects.filter(booking=booking)
                    )
                    at_stripe_disputes = sorted(
                        (
                            e["data"]["object"]["id"],
                            standin.get(e["data"]["object"]["id"])["status"],
                        )
                        for e in standin.events
                        if e["type"] == "charge.dispute.created"
                        and e["data"]["object"]["payment_intent"] == pi
                    )
                    assert disputes == at_stripe_disputes

        # --- invariants after every step ---------------------------------------

        @invariant()
        def one_active_booking_per_date(self):
            with tenant_scope(self.tenant):
                crowded = (
                    Booking.objects.filter(tenant=self.tenant, status__in=Booking.ACTIVE_STATUSES)
                    .values("event_date")
                    .annotate(n=Count("pk"))
                    .filter(n__gt=1)
                )
                assert list(crowded) == []

        @invariant()
        def money_adds_up(self):
            with tenant_scope(self.tenant):
                for b in Booking.objects.filter(tenant=self.tenant):
                    assert 0 <= b.refunded_cents <= b.paid_cents <= b.amount_cents, b.pk
                    assert b.commission_refunded_cents == money.commission_refunded_for(
                        commission_cents=b.commission_cents,
                        refunded_cents=b.refunded_cents,
                        paid_cents=b.paid_cents,
                    )
                    succeeded = (
                        BookingRefund.objects.filter(booking=b, status="succeeded").aggregate(
                            s=Sum("amount_cents")
                        )["s"]
                        or 0
                    )
                    assert b.refunded_cents == min(succeeded, b.paid_cents)
                    # Every refund Altar decides fits in what was paid less
                    # what earlier refunds (not failed since) took.
                    taken = 0
                    for row in BookingRefund.objects.filter(booking=b).order_by("pk"):
                        if row.reason != BookingRefund.Reason.STRIPE_DASHBOARD:
                            assert taken + row.amount_cents <= b.paid_cents, (
                                f"refund #{row.pk} of {row.amount_cents} decided with "
                                f"{taken} already refunded of {b.paid_cents} paid"
                            )
                        if row.status not in ("failed", "canceled"):
                            taken += row.amount_cents
                    if b.status in ("held", "payment_processing", "expired"):
                        assert b.paid_cents == 0, (b.pk, b.status)
                    if b.status == "confirmed":
                        assert b.paid_cents == b.amount_cents, b.pk

        @invariant()
        def each_mail_at_most_once_per_booking(self):
            seen: dict[tuple[str, str], int] = {}
            for message in mail.outbox:
                if not message.to or not message.to[0].startswith("couple"):
                    continue
                kind = (message.to[0], message.subject)  # one subject per kind of mail
                seen[kind] = seen.get(kind, 0) + 1
            assert [k for k, n in seen.items() if n > 1] == []

    return MoneyMachine


@pytest.mark.django_db
def test_money_invariants_hold_under_random_histories(stripe_standin, unscoped):
    path = record_endpoint(PLATFORM_SECRET)
    run_state_machine_as_test(make_machine(stripe_standin, path), settings=PROFILE)


@pytest.mark.django_db
def test_a_full_refund_decided_while_a_dashboard_refund_is_pending_counts_it(
    stripe_standin, unscoped
):
    """A history the machine's invariants judge, replayed as written: Stripe
    settles a dashboard refund slowly (pending) and staff then cancel with a
    full refund. The refund Altar decides must leave out the pending one
    (with `refundable_now` forgetting refunds in flight it asked for all of
    the payment again, and `money_adds_up` fails)."""
    machine = make_machine(stripe_standin, record_endpoint(PLATFORM_SECRET))()
    try:
        machine.couples_check_out(days=[0])
        machine.pay(i=0, delayed=False, webhook_now=True)
        machine.refund_in_stripe_dashboard(i=0, part=1, pending=True, webhooks_now=True)
        machine.staff_cancel(i=0, choice="full")
        machine.money_adds_up()
        machine.everything_settles()
        booking = machine.booking(0)
        rows = BookingRefund.objects.filter(booking=booking).order_by("pk")
        assert [(r.reason, r.amount_cents, r.status) for r in rows] == [
            ("stripe_dashboard", booking.paid_cents // 5, "pending"),
            ("staff_cancel", booking.paid_cents - booking.paid_cents // 5, "succeeded"),
        ]
    finally:
        machine.teardown()
