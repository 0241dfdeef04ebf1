"""The outbox: tasks are queued in the deciding transaction, run after
commit, and a dead worker's task runs again with one effect."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core import mail
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from bookings.models import Booking
from bookings.services import booking_mark_paid
from tests.conftest import run_outbox
from tests.factories import BookingFactory

pytestmark = pytest.mark.django_db


def mark_paid(tenant, booking):
    return booking_mark_paid(
        tenant=tenant,
        booking_id=booking.pk,
        checkout_session_id="cs_1",
        # No payment intent: no refunds to fetch, the confirmation mail is
        # the one task these tests follow.
        payment_intent_id="",
        amount_paid_cents=booking.amount_cents,
    )


def test_a_rolled_back_change_leaves_no_task(tenant, unscoped):
    booking = BookingFactory(tenant=tenant, status=Booking.Status.HELD)

    with pytest.raises(RuntimeError), transaction.atomic():
        mark_paid(tenant, booking)
        raise RuntimeError("the caller's transaction fails after the service")

    assert DBTaskResult.objects.count() == 0
    booking.refresh_from_db()
    assert booking.status == "held"


def test_the_confirmation_mail_is_a_task_sent_after_commit_once(tenant, unscoped):
    booking = BookingFactory(tenant=tenant, status=Booking.Status.HELD)

    mark_paid(tenant, booking)

    assert mail.outbox == []  # nothing is sent inside the transaction
    (queued,) = DBTaskResult.objects.all()
    assert queued.task_path == "bookings.tasks.booking_mail_confirmed"
    assert run_outbox() == 1
    assert [m.to for m in mail.outbox] == [["couple@example.com"]]


def test_a_dead_workers_task_is_requeued_and_runs_once(tenant, unscoped):
    booking = BookingFactory(tenant=tenant, status=Booking.Status.HELD)
    mark_paid(tenant, booking)
    # A worker claimed the task, then died before finishing it.
    DBTaskResult.objects.update(
        status="RUNNING", started_at=timezone.now() - dt.timedelta(minutes=20), worker_ids=["dead"]
    )
    fresh = StringIO()
    call_command("requeue_stale_tasks", "--older-than", "30", "--json", stdout=fresh)
    assert json.loads(fresh.getvalue()) == {"requeued": 0}

    out = StringIO()
    call_command("requeue_stale_tasks", "--json", stdout=out)
    run_outbox()
    run_outbox()

    assert json.loads(out.getvalue()) == {"requeued": 1}
    assert [m.to for m in mail.outbox] == [["couple@example.com"]]
    assert DBTaskResult.objects.get().status == "SUCCESSFUL"


def test_a_task_that_ran_but_died_before_finishing_does_not_mail_twice(tenant, unscoped):
    booking = BookingFactory(tenant=tenant, status=Booking.Status.HELD)
    mark_paid(tenant, booking)
    run_outbox()
    # The worker had sent the mail but died before recording success.
    DBTaskResult.objects.update(status="RUNNING", started_at=timezone.now() - dt.timedelta(hours=1))

    call_command("requeue_stale_tasks", stdout=StringIO())
    run_outbox()

    assert len(mail.outbox) == 1
