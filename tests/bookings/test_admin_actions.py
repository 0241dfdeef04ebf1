"""Booking actions in the admin: cancel with a reviewed refund, resend the
confirmation e-mail, CSV export; the tenant boundary on every one of them."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django_tasks_db.models import DBTaskResult

from bookings.admin_views import CSV_COLUMNS
from bookings.models import Booking
from bookings.selectors import booking_refund_preview
from bookings.services import booking_confirmation_resend
from tenants.models import Tenant
from tests.conftest import run_outbox
from tests.factories import BookingAddOnFactory, BookingFactory

pytestmark = pytest.mark.django_db

BOOKINGS = "/admin/bookings/booking/"


def read_csv(response) -> list[dict[str, str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert tuple(rows[0]) == CSV_COLUMNS
    return [dict(zip(CSV_COLUMNS, row, strict=True)) for row in rows[1:]]


def hidden_fields(html: str) -> dict[str, str]:
    found = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    found.pop("csrfmiddlewaretoken", None)
    return found


# --- cancel: a confirm page shows the refund, the commission returned and what is kept ----


@pytest.fixture
def paid(tenant, unscoped):
    # 1,234.56 USD paid, commission 10 % = 123.46 (rounded half up).
    return BookingFactory(
        tenant=tenant,
        amount_cents=123_456,
        paid_cents=123_456,
        commission_cents=12_346,
        stripe_payment_intent_id="pi_paid",
    )


def test_cancel_page_shows_full_and_no_refund_amounts(staff_client, paid):
    html = staff_client.get(f"{BOOKINGS}{paid.pk}/cancel/").content.decode()

    assert (
        '<tr><th scope="row">Full refund</th><td>1,234.56 USD</td><td>123.46 USD</td>'
        "<td>0.00 USD</td></tr>" in html
    )
    # No refund: 1,234.56 paid less 123.46 commission.
    assert (
        '<tr><th scope="row">No refund</th><td>0.00 USD</td><td>0.00 USD</td>'
        "<td>1,111.10 USD</td></tr>" in html
    )
    assert "Cancel booking now" not in html  # only the confirm page cancels


def test_cancel_confirm_page_shows_partial_amounts_and_changes_nothing(
    staff_client, paid, stripe_standin, unscoped
):
    # Posting the choice (with or without "Review") only shows the confirm page.
    for extra in ({"_review": "1"}, {}):
        response = staff_client.post(
            f"{BOOKINGS}{paid.pk}/cancel/", {"refund": "partial", "amount": "500.25", **extra}
        )

        assert response.status_code == 200
        html = response.content.decode()
        # 123.46 * 500.25 / 1234.56 = 50.0276... -> 50.03; kept: 1234.56 - 500.25
        # - (123.46 - 50.03) = 660.88
        assert (
            '<p id="review-sentence">Refund <strong>500.25 USD</strong> to the couple. '
            "Altar's commission returned: <strong>50.03 USD</strong>. "
            "You keep: <strong>660.88 USD</strong> after commission.</p>"
        ) in html
        assert 'id="review-refund">500.25 USD<' in html
        assert 'id="review-commission">50.03 USD<' in html
        assert 'id="review-kept">660.88 USD<' in html
        assert ">Confirm: cancel and refund 500.25 USD</button>" in html
        assert '<input type="hidden" name="amount" value="500.25">' in html
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_cents) == ("confirmed", 0)
    assert [
        r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/refunds"
    ] == []


def test_confirmed_cancel_does_what_the_confirm_page_showed(staff_client, paid_booking, unscoped):
    # 1,623.45 USD paid (elopement + flowers), commission 162.35 USD.
    preview = booking_refund_preview(booking=paid_booking, refund_cents=50_025)
    # What the browser posts: each page's own hidden fields with the choice.
    page = staff_client.get(f"{BOOKINGS}{paid_booking.pk}/cancel/").content.decode()
    review = staff_client.post(
        f"{BOOKINGS}{paid_booking.pk}/cancel/",
        {**hidden_fields(page), "refund": "partial", "amount": "500.25"},
    ).content.decode()
    hidden = hidden_fields(review)

    confirm = staff_client.post(f"{BOOKINGS}{paid_booking.pk}/cancel/", {**hidden, "_confirm": "1"})

    assert (paid_booking.paid_cents, paid_booking.commission_cents) == (162_345, 16_235)
    assert hidden == {
        "refund": "partial",
        "amount": "500.25",
        "seen_paid_cents": "162345",
        "seen_refundable_cents": "162345",
        "seen_refund_cents": "50025",
    }
    # 16235 * 50025 / 162345 = 5002.77... -> 5003; kept: 162345 - 50025 - (16235 - 5003)
    assert (preview.refund_cents, preview.commission_returned_cents, preview.kept_cents) == (
        50_025,
        5_003,
        101_088,
    )
    assert 'id="review-commission">50.03 USD<' in review
    assert 'id="review-kept">1,010.88 USD<' in review
    assert confirm.status_code == 302
    run_outbox()  # the refund reaches Stripe through the outbox
    paid_booking.refresh_from_db()
    assert paid_booking.status == "canceled"
    assert (
        (paid_booking.refunded_cents, paid_booking.commission_refunded_cents)
        == (
            preview.refunded_after_cents,
            preview.commission_refunded_after_cents,
        )
        == (50_025, 5_003)
    )
    kept = (
        paid_booking.paid_cents
        - paid_booking.refunded_cents
        - (paid_booking.commission_cents - paid_booking.commission_refunded_cents)
    )
    assert kept == preview.kept_cents


def test_full_refund_confirm_page_then_confirm(staff_client, paid_booking, unscoped):
    review = staff_client.post(
        f"{BOOKINGS}{paid_booking.pk}/cancel/", {"refund": "full"}
    ).content.decode()
    confirm = staff_client.post(
        f"{BOOKINGS}{paid_booking.pk}/cancel/", {"refund": "full", "amount": "", "_confirm": "1"}
    )

    assert 'id="review-refund">1,623.45 USD<' in review
    assert 'id="review-commission">162.35 USD<' in review
    assert 'id="review-kept">0.00 USD<' in review
    assert confirm.status_code == 302
    run_outbox()  # the refund reaches Stripe through the outbox
    paid_booking.refresh_from_db()
    assert (paid_booking.refunded_cents, paid_booking.commission_refunded_cents) == (
        162_345,
        16_235,
    )


def test_no_refund_confirm_page_says_so(staff_client, paid, unscoped):
    review = staff_client.post(f"{BOOKINGS}{paid.pk}/cancel/", {"refund": "none"}).content.decode()

    assert (
        '<p id="review-sentence">No refund to the couple. '
        "You keep: <strong>1,111.10 USD</strong> after commission.</p>"
    ) in review
    assert ">Confirm: cancel with no refund</button>" in review
    paid.refresh_from_db()
    assert paid.status == "confirmed"


def test_confirm_on_figures_that_changed_is_refused_and_the_choice_shown_again(
    staff_client, paid, unscoped
):
    # What the confirm page carried: the figures before a payment landed.
    stale = {"refund": "none", "seen_paid_cents": "100000", "seen_refundable_cents": "100000"}

    response = staff_client.post(f"{BOOKINGS}{paid.pk}/cancel/", {**stale, "_confirm": "1"})

    html = response.content.decode()
    assert response.status_code == 200
    assert (
        '<p class="errornote" id="cancel-error">The booking was just paid or changed; '
        "review it again before deciding.</p>"
    ) in html
    # The form again, now carrying the figures as they are.
    assert '<input type="hidden" name="seen_paid_cents" value="123456"' in html
    paid.refresh_from_db()
    assert paid.status == "confirmed"


# --- resend the confirmation e-mail ---------------------------------------------


def couple_mails(booking) -> list:
    return [m for m in mail.outbox if m.to == [booking.email]]


def test_resend_service_clears_the_mark_and_queues_one_mail(tenant, unscoped):
    from tests.factories import MembershipFactory

    MembershipFactory(tenant=tenant, user__email="staff@alpha.example")
    booking = BookingFactory(
        tenant=tenant, confirmation_mailed_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    )

    booking_confirmation_resend(tenant=tenant, booking_id=booking.pk)

    booking.refresh_from_db()
    assert booking.confirmation_mailed_at is None
    (task,) = DBTaskResult.objects.all()
    assert task.task_path == "bookings.tasks.booking_mail_confirmed"
    assert run_outbox() == 1
    assert len(couple_mails(booking)) == 1
    assert len(mail.outbox) == 1  # the couple only: staff heard at confirmation
    booking.refresh_from_db()
    assert booking.confirmation_mailed_at is not None


def test_resend_refuses_a_booking_that_is_not_confirmed(tenant, unscoped):
    booking = BookingFactory(tenant=tenant, status=Booking.Status.HELD)

    with pytest.raises(ValidationError) as refused:
        booking_confirmation_resend(tenant=tenant, booking_id=booking.pk)

    assert refused.value.code == "booking_not_confirmed"
    assert DBTaskResult.objects.count() == 0


def test_resend_button_sends_exactly_one_mail_each_time(staff_client, tenant, unscoped):
    booking = BookingFactory(tenant=tenant, email="ada@example.com")
    change = staff_client.get(f"{BOOKINGS}{booking.pk}/change/").content.decode()
    assert f'href="{BOOKINGS}{booking.pk}/resend-confirmation/"' in change

    page = staff_client.get(f"{BOOKINGS}{booking.pk}/resend-confirmation/")
    first = staff_client.post(f"{BOOKINGS}{booking.pk}/resend-confirmation/")
    run_outbox()
    after_first = len(couple_mails(booking))
    second = staff_client.post(f"{BOOKINGS}{booking.pk}/resend-confirmation/")
    run_outbox()

    assert page.status_code == 200
    assert (first.status_code, first["Location"]) == (302, f"{BOOKINGS}{booking.pk}/change/")
    assert second.status_code == 302
    assert after_first == 1
    assert len(couple_mails(booking)) == 2
    assert run_outbox() == 0  # nothing left over


def test_resend_button_is_not_offered_for_a_held_booking(staff_client, tenant, unscoped):
    booking = BookingFactory(tenant=tenant, status=Booking.Status.HELD)

    change = staff_client.get(f"{BOOKINGS}{booking.pk}/change/").content.decode()
    post = staff_client.post(f"{BOOKINGS}{booking.pk}/resend-confirmation/", follow=True)

    assert "resend-confirmation" not in change
    assert "Only confirmed bookings have a confirmation to resend." in post.content.decode()
    assert DBTaskResult.objects.count() == 0


def test_resend_admin_action_mails_confirmed_bookings_only(staff_client, tenant, unscoped):
    one = BookingFactory(tenant=tenant, email="one@example.com")
    two = BookingFactory(tenant=tenant, email="two@example.com")
    held = BookingFactory(tenant=tenant, status=Booking.Status.HELD, email="held@example.com")

    response = staff_client.post(
        BOOKINGS,
        {"action": "resend_confirmation", "_selected_action": [one.pk, two.pk, held.pk]},
        follow=True,
    )
    ran = run_outbox()

    assert response.status_code == 200
    html = response.content.decode()
    assert "2 confirmation e-mail(s) queued." in html
    assert "1 booking(s) skipped" in html
    assert ran == 2
    assert (len(couple_mails(one)), len(couple_mails(two)), len(couple_mails(held))) == (1, 1, 0)


# --- the tenant boundary on every action ------------------------------------------


def test_another_tenants_booking_in_action_urls_is_404(staff_client, other_tenant, unscoped):
    theirs = BookingFactory(tenant=other_tenant, email="theirs@example.com")

    answers = [
        staff_client.get(f"{BOOKINGS}{theirs.pk}/resend-confirmation/").status_code,
        staff_client.post(f"{BOOKINGS}{theirs.pk}/resend-confirmation/").status_code,
        staff_client.get(f"{BOOKINGS}{theirs.pk}/cancel/").status_code,
        staff_client.post(
            f"{BOOKINGS}{theirs.pk}/cancel/", {"refund": "none", "_review": "1"}
        ).status_code,
    ]
    action = staff_client.post(
        BOOKINGS, {"action": "resend_confirmation", "_selected_action": [theirs.pk]}
    )

    assert answers == [404, 404, 404, 404]
    assert action.status_code == 302  # "no items selected": the row is not in the scoped list
    assert DBTaskResult.objects.count() == 0
    theirs.refresh_from_db()
    assert theirs.status == "confirmed"


# --- CSV export -------------------------------------------------------------------


def test_csv_export_content(staff_client, tenant, other_tenant, unscoped):
    Tenant.objects.filter(pk=tenant.pk).update(timezone="America/Denver")
    booking = BookingFactory(
        tenant=tenant,
        event_date=dt.date(2030, 5, 4),
        couple_name="Zoë & Ana",
        email="zoe@example.com",
        phone="555 0100",
        notes="Line one\nline two, with comma",
        amount_cents=162_345,
        paid_cents=162_345,
        commission_cents=16_235,
    )
    # 18:30 UTC is 12:30 in Denver (MDT, UTC-6).
    Booking.objects.filter(pk=booking.pk).update(
        created_at=dt.datetime(2030, 5, 1, 18, 30, tzinfo=dt.UTC),
        confirmed_at=dt.datetime(2030, 5, 1, 19, 5, tzinfo=dt.UTC),
    )
    BookingAddOnFactory(booking=booking, title="Flowers")
    BookingFactory(tenant=other_tenant, couple_name="Their Couple")

    response = staff_client.get(f"{BOOKINGS}export.csv")

    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="bookings-alpha-weddings.csv"'
    (row,) = read_csv(response)
    assert row == {
        "id": str(booking.pk),
        "tenant": "alpha-weddings",
        "event_date": "2030-05-04",
        "status": "confirmed",
        "couple_name": "Zoë & Ana",
        "email": "zoe@example.com",
        "phone": "555 0100",
        "package": booking.package.title,
        "add_ons": "Flowers",
        "currency": "usd",
        # Each amount in units for people, in minor units beside it for machines.
        "total": "1623.45",
        "amount_cents": "162345",
        "paid": "1623.45",
        "paid_cents": "162345",
        "refunded": "0.00",
        "refunded_cents": "0",
        "commission": "162.35",
        "commission_cents": "16235",
        "commission_refunded": "0.00",
        "commission_refunded_cents": "0",
        "balance_due": "0.00",
        "balance_due_cents": "0",
        "balance_due_on": "",
        # The ledger: kind:status:amount:commission share[:Stripe id].
        "payments": "deposit:succeeded:1623.45:162.35",
        "payments_cents": "deposit:succeeded:162345:16235",
        "time_zone": "America/Denver",
        "hold_expires_at": "",
        "created_at": "2030-05-01 12:30",
        "confirmed_at": "2030-05-01 13:05",
        "canceled_at": "",
        "cancel_reason": "",
        "notes": "Line one\nline two, with comma",
        "answers": "",
    }


def test_csv_export_writes_zero_decimal_currencies_without_decimals(staff_client, tenant, unscoped):
    Tenant.objects.filter(pk=tenant.pk).update(currency="jpy", timezone="Asia/Tokyo")
    tenant.refresh_from_db()
    booking = BookingFactory(tenant=tenant, amount_cents=180_000, commission_cents=18_000)
    Booking.objects.filter(pk=booking.pk).update(
        created_at=dt.datetime(2030, 5, 1, 18, 30, tzinfo=dt.UTC)
    )

    (row,) = read_csv(staff_client.get(f"{BOOKINGS}export.csv"))

    assert {name: row[name] for name in CSV_COLUMNS[9:25]} == {
        "currency": "jpy",
        "total": "180000",
        "amount_cents": "180000",
        "paid": "180000",
        "paid_cents": "180000",
        "refunded": "0",
        "refunded_cents": "0",
        "commission": "18000",
        "commission_cents": "18000",
        "commission_refunded": "0",
        "commission_refunded_cents": "0",
        "balance_due": "0",
        "balance_due_cents": "0",
        "balance_due_on": "",
        "payments": "deposit:succeeded:180000:18000",
        "payments_cents": "deposit:succeeded:180000:18000",
    }
    # 18:30 UTC is 03:30 the next day in Tokyo.
    assert (row["time_zone"], row["created_at"]) == ("Asia/Tokyo", "2030-05-02 03:30")


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ('=HYPERLINK("http://evil")', '\'=HYPERLINK("http://evil")'),
        ("+1+2", "'+1+2"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("Ada = Grace", "Ada = Grace"),
        ("'quoted", "'quoted"),
    ],
)
def test_csv_export_neutralises_formulas(staff_client, tenant, unscoped, name, written):
    BookingFactory(tenant=tenant, couple_name=name, phone="+1 555 0100", notes="-")

    (row,) = read_csv(staff_client.get(f"{BOOKINGS}export.csv"))

    assert row["couple_name"] == written
    assert row["phone"] == "'+1 555 0100"
    assert row["notes"] == "'-"


def test_csv_export_respects_filters_and_search(staff_client, tenant, other_tenant, unscoped):
    ada = BookingFactory(tenant=tenant, couple_name="Ada Lovelace")
    BookingFactory(tenant=tenant, couple_name="Ada Held", status=Booking.Status.HELD)
    BookingFactory(tenant=tenant, couple_name="Grace Hopper")
    BookingFactory(tenant=other_tenant, couple_name="Ada Elsewhere")
    changelist = staff_client.get(BOOKINGS, {"q": "Ada", "status__exact": "confirmed"})

    response = staff_client.get(f"{BOOKINGS}export.csv", {"q": "Ada", "status__exact": "confirmed"})
    everything = read_csv(staff_client.get(f"{BOOKINGS}export.csv"))

    assert [r["id"] for r in read_csv(response)] == [str(ada.pk)]
    assert list(changelist.context["cl"].result_list) == [ada]
    assert f"{BOOKINGS}export.csv?q=Ada&amp;status__exact=confirmed" in changelist.content.decode()
    assert sorted(r["couple_name"] for r in everything) == [
        "Ada Held",
        "Ada Lovelace",
        "Grace Hopper",
    ]


def test_csv_export_with_an_unknown_filter_is_a_bad_request(staff_client, tenant):
    assert (
        staff_client.get(f"{BOOKINGS}export.csv", {"tenant__slug": "beta-weddings"}).status_code
        == 400
    )


def test_superuser_export_covers_every_tenant_or_the_filtered_one(
    superuser_client, tenant, other_tenant, unscoped
):
    BookingFactory(tenant=tenant, couple_name="Mine")
    BookingFactory(tenant=other_tenant, couple_name="Theirs")

    everything = read_csv(superuser_client.get(f"{BOOKINGS}export.csv"))
    filtered = read_csv(
        superuser_client.get(f"{BOOKINGS}export.csv", {"tenant__id__exact": other_tenant.pk})
    )

    assert sorted(r["tenant"] for r in everything) == ["alpha-weddings", "beta-weddings"]
    assert [r["couple_name"] for r in filtered] == ["Theirs"]


def test_owner_can_use_every_booking_tool(owner_client, tenant, unscoped):
    booking = BookingFactory(tenant=tenant)

    answers = [
        owner_client.get("/admin/").status_code,
        owner_client.get(f"{BOOKINGS}calendar/").status_code,
        owner_client.get(f"{BOOKINGS}export.csv").status_code,
        owner_client.get(f"{BOOKINGS}{booking.pk}/cancel/").status_code,
        owner_client.get(f"{BOOKINGS}{booking.pk}/resend-confirmation/").status_code,
    ]

    assert answers == [200, 200, 200, 200, 200]
