"""Staff and balances (issue 13): the dashboard's balances section, an
offline payment, an early balance link, and the CSV ledger."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.utils import timezone

from bookings.models import Booking, BookingPayment, BookingReminder
from bookings.selectors import dashboard_balances
from tenants.models import AuditEntry
from tests.factories import BookingFactory

pytestmark = pytest.mark.django_db

BOOKINGS = "/admin/bookings/booking/"
PLAN = {
    "kind": "deposit",
    "deposit_percent": 30,
    "deposit_cents": None,
    "deposit_refundable": True,
    "balance_days_before": 30,
}


def with_balance(tenant, *, due_in: int, state: str, couple: str = "Ada & Grace") -> Booking:
    """A confirmed booking whose 30 % deposit is paid, balance due in `due_in` days."""
    today = timezone.now().date()
    return BookingFactory(
        tenant=tenant,
        couple_name=couple,
        event_date=today + dt.timedelta(days=due_in + 30),
        amount_cents=100_000,
        paid_cents=30_000,
        commission_cents=10_000,
        deposit_cents=30_000,
        balance_due_on=today + dt.timedelta(days=due_in),
        balance_state=state,
        payment_plan=PLAN,
    )


def test_dashboard_shows_upcoming_overdue_and_failed_balances(
    staff_client, tenant, other_tenant, unscoped
):
    upcoming = with_balance(tenant, due_in=10, state="scheduled", couple="Soon Couple")
    with_balance(tenant, due_in=45, state="scheduled", couple="Later Couple")
    failed = with_balance(tenant, due_in=-2, state="failed", couple="Declined Couple")
    BookingPayment.objects.create(
        tenant=tenant,
        booking=failed,
        kind="balance",
        status="failed",
        amount_cents=70_000,
        failure="card_declined",
    )
    with_balance(other_tenant, due_in=-2, state="failed", couple="Their Couple")

    view = dashboard_balances(tenant=tenant, today=timezone.now().date())
    page = staff_client.get("/admin/").content.decode()

    assert [b.pk for b in view.upcoming] == [upcoming.pk]
    assert [b.pk for b in view.overdue] == [failed.pk]
    assert [p.failure for p in view.failed_charges] == ["card_declined"]
    assert "Soon Couple" in page and "Declined Couple" in page and "card_declined" in page
    assert "Later Couple" not in page and "Their Couple" not in page


def test_staff_record_an_offline_payment_through_the_admin(staff_client, tenant, unscoped):
    booking = with_balance(tenant, due_in=-2, state="failed")

    too_much = staff_client.post(
        f"{BOOKINGS}{booking.pk}/offline-payment/", {"amount": "700.01", "note": "bank transfer"}
    )
    response = staff_client.post(
        f"{BOOKINGS}{booking.pk}/offline-payment/", {"amount": "700.00", "note": "bank transfer"}
    )

    assert too_much.status_code == 200 and "More than is due" in too_much.content.decode()
    assert response.status_code == 302
    booking.refresh_from_db()
    assert (booking.paid_cents, booking.balance_state) == (100_000, "paid")
    offline = booking.payments.get(kind="offline")
    assert (offline.amount_cents, offline.note) == (70_000, "bank transfer")
    assert sum(booking.payments.values_list("application_fee_cents", flat=True)) == 10_000
    entry = AuditEntry.objects.get(action="booking.offline_payment")
    assert entry.changes["paid_cents"] == [30_000, 100_000]


def test_offline_payment_in_yen_takes_whole_yen_and_refuses_decimals(
    staff_client, tenant, unscoped
):
    booking = with_balance(tenant, due_in=-2, state="failed")
    Booking.objects.filter(pk=booking.pk).update(currency="jpy")

    with_decimals = staff_client.post(
        f"{BOOKINGS}{booking.pk}/offline-payment/", {"amount": "100.50", "note": "cash"}
    )
    whole = staff_client.post(
        f"{BOOKINGS}{booking.pk}/offline-payment/", {"amount": "70,000", "note": "cash"}
    )

    # Before, "100.50" was silently recorded as 100 yen.
    assert with_decimals.status_code == 200
    assert "JPY amounts have no decimals" in with_decimals.content.decode()
    assert whole.status_code == 302
    booking.refresh_from_db()
    assert booking.paid_cents == 100_000
    assert list(booking.payments.filter(kind="offline").values_list("amount_cents", flat=True)) == [
        70_000
    ]


def test_staff_send_the_balance_link_early_and_the_couple_can_pay_from_manage(
    staff_client, tenant, outbox, unscoped
):
    from django.test import Client

    from bookings.manage_links import manage_path, manage_token_check

    booking = with_balance(tenant, due_in=20, state="scheduled")
    before = Client().get(manage_path(booking.pk)).content.decode()

    response = staff_client.post(f"{BOOKINGS}{booking.pk}/balance-link/")
    mails = outbox()

    assert response.status_code == 302
    assert [r.kind for r in BookingReminder.objects.filter(booking=booking)] == ["balance_link_1"]
    (mail,) = mails
    assert mail.subject.startswith("Your balance of $700.00 for ")
    assert "You can pay the balance of $700.00 on your booking's page" in mail.body
    # The mail signs its own link (maybe in another second than this test):
    # it is a live link to this booking.
    (token,) = re.findall(rf"/bookings/{booking.pk}/manage/([^/\s]+)/", mail.body)
    manage_token_check(token, booking_id=booking.pk)
    assert AuditEntry.objects.filter(action="booking.balance_link_sent").count() == 1
    after = Client().get(manage_path(booking.pk)).content.decode()
    assert "Pay the balance of $700.00" not in before
    assert "Pay the balance of $700.00" in after


def test_reminders_go_once_per_kind_in_the_couples_language(tenant, outbox, unscoped):
    from django.core import mail

    from bookings.balances import reminders_queue

    booking = with_balance(tenant, due_in=2, state="scheduled")
    Booking.objects.filter(pk=booking.pk).update(language="es", card_last4="4242")
    now = timezone.now()

    # Two days before the due date: the "your card will be charged" notice.
    first = reminders_queue(now=now)
    again = reminders_queue(now=now + dt.timedelta(hours=1))
    mails = outbox()
    # Fourteen days before the wedding, the balance still due: one more.
    wedding = reminders_queue(now=now + dt.timedelta(days=18))
    twice = reminders_queue(now=now + dt.timedelta(days=19))
    outbox()

    assert (first, again, wedding, twice) == (1, 0, 1, 0)
    assert [r.kind for r in BookingReminder.objects.order_by("id")] == [
        "balance_upcoming",
        "wedding_14_days",
    ]
    (notice, reminder) = mail.outbox
    assert notice is mails[0]
    assert notice.subject.startswith("El saldo de 700,00")
    assert "tarjeta terminada en 4242" in notice.body
    assert reminder.subject.startswith("Tu saldo de 700,00")
