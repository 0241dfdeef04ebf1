"""Every admin path that refunds money shows a confirm page first: the
refund, Altar's commission returned with it and what the business keeps
after commission (bookings.money.refund_preview), in the currency's units;
only that page's button moves money, decided again under the lock."""

from __future__ import annotations

import re

import pytest

from bookings.models import Booking, BookingPayment, BookingRefund
from tests.factories import BookingFactory, MembershipFactory, TenantFactory, days_ahead

pytestmark = pytest.mark.django_db

BOOKINGS = "/admin/bookings/booking/"


def hidden_fields(html: str) -> dict[str, str]:
    found = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', html))
    found.pop("csrfmiddlewaretoken", None)
    return found


def sentence(html: str, element_id: str) -> str:
    found = re.search(rf'<p id="{element_id}">(.*?)</p>', html, re.S).group(1)
    return re.sub(r"</?strong>", "", found)


@pytest.fixture
def yen_client(client, db):
    tenant = TenantFactory(
        slug="sakura", name="Sakura Weddings", currency="jpy", commission_bps=1250
    )
    client.force_login(MembershipFactory(tenant=tenant).user)
    return client, tenant


def test_yen_refund_confirm_page_has_no_decimals_and_refunds_what_it_said(
    yen_client, stripe_standin, unscoped
):
    client, tenant = yen_client
    # 123,457 JPY paid; 12.5 % commission = 15,432 (round half up).
    booking = BookingFactory(
        tenant=tenant,
        amount_cents=123_457,
        commission_cents=15_432,
        stripe_payment_intent_id="pi_yen",
    )
    page = client.get(f"{BOOKINGS}{booking.pk}/cancel/").content.decode()

    review = client.post(
        f"{BOOKINGS}{booking.pk}/cancel/",
        {**hidden_fields(page), "refund": "partial", "amount": "50001"},
    ).content.decode()
    booking.refresh_from_db()
    status_after_review = booking.status
    confirm = client.post(
        f"{BOOKINGS}{booking.pk}/cancel/", {**hidden_fields(review), "_confirm": "1"}
    )

    # 15432 * 50001 / 123457 = 6250.07 -> 6,250; kept 123457 - 50001 - 9182.
    assert sentence(review, "review-sentence") == (
        "Refund 50,001 JPY to the couple. Altar's commission returned: 6,250 JPY. "
        "You keep: 64,274 JPY after commission."
    )
    assert (
        '<tr><th scope="row">Full refund</th><td>123,457 JPY</td><td>15,432 JPY</td>'
        "<td>0 JPY</td></tr>"
    ) in page
    assert status_after_review == "confirmed"
    assert confirm.status_code == 302
    booking.refresh_from_db()
    assert booking.status == "canceled"
    assert list(BookingRefund.objects.values_list("amount_cents", "reason")) == [
        (50_001, "staff_cancel")
    ]


def test_policy_refund_that_changed_since_the_confirm_page_is_refused(
    staff_client, tenant, stripe_standin, unscoped
):
    # 1,000.00 paid (commission 100.00); the booking's policy: 50 % back.
    booking = BookingFactory(
        tenant=tenant, amount_cents=100_000, stripe_payment_intent_id="pi_policy"
    )
    booking.cancellation_policy = [{"days_before": 0, "refund_percent": 50}]
    booking.save(update_fields=["cancellation_policy"])
    page = staff_client.get(f"{BOOKINGS}{booking.pk}/cancel/").content.decode()
    review = staff_client.post(
        f"{BOOKINGS}{booking.pk}/cancel/", {**hidden_fields(page), "refund": "policy"}
    ).content.decode()
    # Meanwhile a refund of 200.00 is on its way (e.g. from Stripe's
    # dashboard): the policy now gives 50 % of 800.00.
    BookingRefund.objects.create(
        tenant=tenant,
        booking=booking,
        payment=booking.payments.get(),
        amount_cents=20_000,
        status=BookingRefund.Status.PENDING,
        reason=BookingRefund.Reason.STRIPE_DASHBOARD,
    )

    stale = staff_client.post(
        f"{BOOKINGS}{booking.pk}/cancel/", {**hidden_fields(review), "_confirm": "1"}
    ).content.decode()
    again = staff_client.post(
        f"{BOOKINGS}{booking.pk}/cancel/", {**hidden_fields(stale), "refund": "policy"}
    ).content.decode()
    done = staff_client.post(
        f"{BOOKINGS}{booking.pk}/cancel/", {**hidden_fields(again), "_confirm": "1"}
    )

    assert sentence(review, "review-sentence") == (
        "Refund 500.00 USD to the couple. Altar's commission returned: 50.00 USD. "
        "You keep: 450.00 USD after commission."
    )
    assert (
        '<p class="errornote" id="cancel-error">The booking was just paid or changed; '
        "review it again before deciding.</p>"
    ) in stale
    # 200.00 on its way and 400.00 now: 1000 - 600 - (100 - 60).
    assert sentence(again, "review-sentence") == (
        "Refund 400.00 USD to the couple. Altar's commission returned: 40.00 USD. "
        "You keep: 360.00 USD after commission."
    )
    assert done.status_code == 302
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELED
    assert sorted(BookingRefund.objects.values_list("amount_cents", "reason")) == [
        (20_000, "stripe_dashboard"),
        (40_000, "staff_cancel"),
    ]


# --- a move to a date whose price is lower refunds the difference ----------------------


@pytest.fixture
def cheaper_move(tenant, unscoped):
    """1,500.00 paid (commission 150.00) for a package now sold at 1,200.00."""
    booking = BookingFactory(
        tenant=tenant,
        amount_cents=150_000,
        event_date=days_ahead(100),
        stripe_payment_intent_id="pi_move",
    )
    booking.package.price_cents = 120_000
    booking.package.save(update_fields=["price_cents"])
    return booking, days_ahead(140)


def test_move_that_refunds_shows_the_three_figures_before_confirming(
    staff_client, cheaper_move, stripe_standin
):
    booking, new = cheaper_move
    url = f"{BOOKINGS}{booking.pk}/move/"

    review = staff_client.post(url, {"event_date": new.isoformat(), "_review": "1"})
    booking.refresh_from_db()
    date_after_review = booking.event_date
    html = review.content.decode()
    done = staff_client.post(url, {**hidden_fields(html), "_confirm": "1"})

    # 300.00 back; 150.00 * 300 / 1500 = 30.00 returned; 1500 - 300 - 120 kept.
    assert sentence(html, "move-money-sentence") == (
        "Refund 300.00 USD to the couple (the new date's lower price). Altar's commission "
        "returned: 30.00 USD. You keep: 1,080.00 USD after commission."
    )
    assert ">Confirm: move and refund 300.00 USD</button>" in html
    assert hidden_fields(html) == {"event_date": new.isoformat(), "seen_refund_cents": "30000"}
    assert date_after_review != new
    assert done.status_code == 302
    booking.refresh_from_db()
    assert booking.event_date == new
    assert list(BookingRefund.objects.values_list("amount_cents", "reason")) == [
        (30_000, "date_change")
    ]


def test_move_refund_other_than_the_confirmed_one_is_refused(
    staff_client, cheaper_move, stripe_standin
):
    booking, new = cheaper_move
    url = f"{BOOKINGS}{booking.pk}/move/"
    before = booking.event_date

    # The confirm page said 250.00; the price has moved again since.
    response = staff_client.post(
        url, {"event_date": new.isoformat(), "seen_refund_cents": "25000", "_confirm": "1"}
    )

    assert response.status_code == 200
    assert (
        '<p class="errornote" id="move-error">The booking was just paid or changed; '
        "review it again before deciding.</p>"
    ) in response.content.decode()
    booking.refresh_from_db()
    assert booking.event_date == before
    assert BookingRefund.objects.count() == 0


def test_yen_refund_with_decimals_is_refused_not_rounded(yen_client, unscoped):
    client, tenant = yen_client
    booking = BookingFactory(tenant=tenant, amount_cents=123_457, stripe_payment_intent_id="pi_y")

    page = client.get(f"{BOOKINGS}{booking.pk}/cancel/").content.decode()
    response = client.post(
        f"{BOOKINGS}{booking.pk}/cancel/", {"refund": "partial", "amount": "100.50"}
    )

    assert "Partial refund amount (JPY)" in page and "e.g. 25,000" in page
    html = response.content.decode()
    assert "JPY amounts have no decimals." in html
    assert 'id="review-sentence"' not in html


def test_full_refund_says_what_was_paid_outside_stripe_and_refunds_stripes_part(
    client, tenant, stripe_standin, unscoped
):
    # 1,800.00 USD: 1,000.00 paid through Stripe, 800.00 by bank transfer
    # (recorded by staff); commission 10 % of each.
    booking = BookingFactory(
        tenant=tenant,
        amount_cents=180_000,
        commission_cents=18_000,
        paid_cents=100_000,
        stripe_payment_intent_id="pi_part",
    )
    BookingPayment.objects.filter(booking=booking).update(application_fee_cents=10_000)
    BookingPayment.objects.create(
        tenant=tenant,
        booking=booking,
        kind=BookingPayment.Kind.OFFLINE,
        status=BookingPayment.Status.SUCCEEDED,
        amount_cents=80_000,
        application_fee_cents=8_000,
        note="bank transfer",
    )
    Booking.objects.filter(pk=booking.pk).update(paid_cents=180_000)
    client.force_login(MembershipFactory(tenant=tenant, role="owner").user)
    note = "800.00 USD was paid outside Stripe (bank transfer/cash) and is not refunded from here."

    page = client.get(f"{BOOKINGS}{booking.pk}/cancel/").content.decode()
    review = client.post(
        f"{BOOKINGS}{booking.pk}/cancel/", {**hidden_fields(page), "refund": "full", "_review": "1"}
    ).content.decode()
    confirm = client.post(
        f"{BOOKINGS}{booking.pk}/cancel/", {**hidden_fields(review), "_confirm": "1"}
    )

    rows = re.findall(
        r"<tr[^>]*>(.*?)</tr>",
        re.search(r'<table id="cancel-options".*?</table>', page, re.S).group(0),
        re.S,
    )
    cells = [re.sub(r"<[^>]+>", "|", row).strip("|").replace("||", "|") for row in rows[1:]]
    assert cells == [
        "Full refund|1,000.00 USD|100.00 USD|720.00 USD",
        note,
        "No refund|0.00 USD|0.00 USD|1,620.00 USD",
        "Partial refund|In proportion to the amount: choose it below; the next page shows the "
        "figures before anything happens.",
    ]
    assert f'<td colspan="4" id="full-refund-note">{note}</td>' in page
    assert sentence(review, "review-sentence") == (
        "Refund 1,000.00 USD to the couple. Altar's commission returned: 100.00 USD. "
        "You keep: 720.00 USD after commission."
    )
    assert f'<p id="review-offline-note">{note}</p>' in review
    assert confirm.status_code == 302
    booking.refresh_from_db()
    assert booking.status == Booking.Status.CANCELED
    assert list(
        BookingRefund.objects.filter(booking=booking).values_list("amount_cents", flat=True)
    ) == [100_000]


def test_no_offline_note_when_everything_was_paid_through_stripe(client, tenant, unscoped):
    booking = BookingFactory(tenant=tenant, amount_cents=180_000, stripe_payment_intent_id="pi_all")
    client.force_login(MembershipFactory(tenant=tenant, role="owner").user)

    page = client.get(f"{BOOKINGS}{booking.pk}/cancel/").content.decode()

    assert "full-refund-note" not in page
    assert "outside Stripe" not in page
