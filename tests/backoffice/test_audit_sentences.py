"""Audit entries read as sentences (issue 15): one exact sentence per kind
of change the services record, with the entry shaped as its call site
records it; every action recorded anywhere in the code has its template;
unknown kinds still read as a sentence; and real changes made through the
services read as expected on the booking's page and the history pages."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.utils import timezone

from backoffice.audit_sentences import SENTENCES, entry_changes_json, entry_sentence
from bookings.services import booking_cancel, booking_contact_update
from tenants.audit import actor_context
from tenants.models import AuditEntry, Tenant
from tests.factories import BookingFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

BOOKING = "2027-03-03 · booking 6f1c2e4a-0000-4000-8000-000000000001"
ROOT = Path(__file__).resolve().parents[2]

# (action, actor ("staff": Maria; "command:<name>"; "couple"; "stripe";
# "system"), object_repr, changes as the call site records them, sentence)
KINDS = [
    (
        "package.created",
        "staff",
        "Garden",
        {
            "title": [None, "Garden"],
            "price_cents": [None, 180000],
            "slug": [None, "garden"],
            "active": [None, True],
        },
        "Maria added the package “Garden” at 1,800.00 USD",
    ),
    (
        "package.updated",
        "staff",
        "Garden Ceremony",
        {"title": ["Garden", "Garden Ceremony"], "price_cents": [180000, 200000]},
        (
            "Maria changed the package “Garden Ceremony”: title from “Garden” to “Garden Ceremony” "
            "and price from 1,800.00 USD to 2,000.00 USD"
        ),
    ),
    (
        "package.deleted",
        "staff",
        "Garden",
        {"title": ["Garden", None], "price_cents": [180000, None]},
        "Maria deleted the package “Garden”",
    ),
    (
        "add_on.created",
        "staff",
        "Flowers",
        {"title": [None, "Flowers"], "price_cents": [None, 12345]},
        "Maria added the add-on “Flowers” at 123.45 USD",
    ),
    (
        "add_on.updated",
        "staff",
        "Flowers",
        {"active": [True, False]},
        "Maria changed the add-on “Flowers”: available from yes to no",
    ),
    (
        "add_on.deleted",
        "staff",
        "Flowers",
        {"title": ["Flowers", None]},
        "Maria deleted the add-on “Flowers”",
    ),
    (
        "photo.added",
        "staff",
        "Arch at sunset",
        {
            "package": [None, "garden"],
            "image": [None, "p/1.jpg"],
            "alt": [None, "Arch at sunset"],
            "position": [None, 0],
        },
        "Maria added a photo to the package “garden”",
    ),
    (
        "photo.updated",
        "staff",
        "Arch",
        {"alt": ["Arch at sunset", "Arch"]},
        "Maria changed a package photo: description (alt text) from “Arch at sunset” to “Arch”",
    ),
    (
        "photo.deleted",
        "staff",
        "Arch",
        {"alt": ["Arch", None]},
        "Maria removed a package photo",
    ),
    (
        "tenant.created",
        "command:create_tenant",
        "Alpha Weddings",
        {"name": [None, "Alpha Weddings"], "commission_bps": [None, 1250]},
        "An Altar command (create_tenant) created the business Alpha Weddings",
    ),
    (
        "tenant.updated",
        "staff",
        "Alpha Weddings",
        {"primary_color": ["#000000", "#112233"], "hold_minutes": [30, 90]},
        (
            "Maria changed the business settings: main colour from “#000000” to “#112233” and hold "
            "length (minutes) from 30 to 90"
        ),
    ),
    (
        "tenant.connect_updated",
        "stripe",
        "Alpha Weddings",
        {"stripe_charges_enabled": [False, True], "stripe_transfers_active": [False, True]},
        "Stripe updated the business's Stripe account: payments enabled and payouts active",
    ),
    (
        "tenant.connect_deauthorized",
        "stripe",
        "Alpha Weddings",
        {"stripe_account_deauthorized_at": [None, "2026-12-01T18:00:00+00:00"]},
        (
            "The business's Stripe account disconnected from Altar: payments are not routed to it "
            "until a new account is connected"
        ),
    ),
    (
        "api_key.issued",
        "staff",
        "publishable key pk_test_ab… (3)",
        {"kind": [None, "publishable"], "prefix": [None, "pk_test_ab"]},
        "Maria issued a new publishable API key (pk_test_ab…)",
    ),
    (
        "api_key.rotated",
        "staff",
        "secret key sk_test_cd… (3)",
        {"valid_until": [None, "2026-12-02T18:00:00+00:00"]},
        (
            "Maria replaced an API key (secret key sk_test_cd…); the old one keeps working until 2 "
            "Dec 2026, 18:00"
        ),
    ),
    (
        "api_key.revoked",
        "staff",
        "secret key sk_test_cd… (3)",
        {"revoked_at": [None, "2026-12-02T18:00:00+00:00"]},
        "Maria revoked an API key (secret key sk_test_cd…)",
    ),
    (
        "membership.created",
        "staff",
        "jo@example.com (staff) @ 3",
        {"user": [None, "jo@example.com"], "role": [None, "staff"]},
        "Maria added jo@example.com to the team as staff",
    ),
    (
        "membership.role_changed",
        "staff",
        "jo@example.com (owner) @ 3",
        {"role": ["staff", "owner"]},
        "Maria changed jo@example.com's role from staff to owner",
    ),
    (
        "membership.accepted",
        "staff",
        "jo@example.com (staff) @ 3",
        {"status": ["pending", "accepted"]},
        "jo@example.com accepted the invitation and joined the team",
    ),
    (
        "membership.removed",
        "staff",
        "jo@example.com (staff) @ 3",
        {"user": ["jo@example.com", None], "role": ["staff", None]},
        "Maria removed jo@example.com from the team",
    ),
    (
        "invitation.created",
        "staff",
        "invitation jo@example.com (staff)",
        {"role": [None, "staff"]},
        "Maria invited jo@example.com (staff)",
    ),
    (
        "invitation.resent",
        "staff",
        "invitation jo@example.com (staff)",
        {},
        "Maria re-sent the invitation to jo@example.com (staff)",
    ),
    (
        "invitation.revoked",
        "staff",
        "invitation jo@example.com (staff)",
        {"role": ["staff", None]},
        "Maria withdrew the invitation to jo@example.com (staff)",
    ),
    (
        "calendar_feed.issued",
        "staff",
        "maria@example.com (owner) @ 3",
        {},
        "Maria made a new private calendar feed link for maria@example.com",
    ),
    (
        "calendar_feed.revoked",
        "staff",
        "maria@example.com (owner) @ 3",
        {},
        "Maria turned off the private calendar feed of maria@example.com",
    ),
    (
        "terms.published",
        "staff",
        "Terms v2",
        {"version": [1, 2]},
        "Maria published version 2 of the terms",
    ),
    (
        "policy.updated",
        "staff",
        "Cancellation and change policy",
        {"self_cancel_allowed": [False, True]},
        "Maria changed the cancellation and date-change policy",
    ),
    (
        "question.created",
        "staff",
        "Number of guests",
        {"key": [None, "guests"]},
        "Maria added the booking question “Number of guests”",
    ),
    (
        "question.updated",
        "staff",
        "Number of guests",
        {"key": [None, "guests"]},
        "Maria changed the booking question “Number of guests”",
    ),
    (
        "booking.held",
        "couple",
        BOOKING,
        {
            "status": [None, "held"],
            "event_date": [None, "2027-03-03"],
            "package": [None, "garden"],
            "amount_cents": [None, 180000],
            "currency": [None, "usd"],
        },
        "The couple held 3 Mar 2027 for the package “garden” at 1,800.00 USD",
    ),
    (
        "booking.discarded",
        "couple",
        "booking 6f1c",
        {"status": ["held", None]},
        "The couple dropped a hold before it reached payment",
    ),
    (
        "booking.paid",
        "stripe",
        BOOKING,
        {"paid_cents": [0, 180000]},
        (
            "Stripe recorded a payment of 1,800.00 USD for the booking for 3 Mar 2027, which was "
            "already canceled; it goes back in full"
        ),
    ),
    (
        "booking.confirmed",
        "stripe",
        BOOKING,
        {"status": ["held", "confirmed"], "paid_cents": [0, 180000]},
        "Stripe recorded a payment of 1,800.00 USD and confirmed the booking for 3 Mar 2027",
    ),
    (
        "booking.payment_processing",
        "stripe",
        BOOKING,
        {"status": ["held", "payment_processing"]},
        (
            "Stripe reported a delayed payment (such as a bank debit) for the booking for 3 Mar "
            "2027; the date stays held until it settles"
        ),
    ),
    (
        "booking.payment_review",
        "stripe",
        BOOKING,
        {
            "payment_review": [None, "amount_mismatch"],
            "reported_amount_cents": [None, 170000],
            "reported_currency": [None, "usd"],
        },
        (
            "Stripe reported a payment of 1,700.00 USD for the booking for 3 Mar 2027 that needs "
            "review: amount differs from the booking's"
        ),
    ),
    (
        "booking.payment_review_resolved",
        "staff",
        BOOKING,
        {"payment_review": ["amount_mismatch", None]},
        "Maria marked the payment needing review on the booking for 3 Mar 2027 as dealt with",
    ),
    (
        "booking.expired",
        "system",
        BOOKING,
        {"status": ["held", "expired"], "expire_reason": [None, "hold_lapsed"]},
        "The hold on 3 Mar 2027 ran out without payment",
    ),
    (
        "booking.hold_released",
        "staff",
        BOOKING,
        {"status": ["held", "canceled"], "cancel_reason": ["", "hold_released"]},
        "Maria released the hold on 3 Mar 2027",
    ),
    (
        "booking.canceled",
        "staff",
        BOOKING,
        {
            "status": ["confirmed", "canceled"],
            "cancel_reason": ["", "staff"],
            "refund_decided_cents": [None, 90000],
        },
        "Maria canceled the booking for 3 Mar 2027 and refunded 900.00 USD",
    ),
    (
        "booking.cancellation_requested",
        "couple",
        BOOKING,
        {"cancellation_request": [None, 4]},
        "The couple asked to cancel the booking for 3 Mar 2027",
    ),
    (
        "booking.date_changed",
        "staff",
        "2027-04-10 · booking 6f1c",
        {
            "event_date": ["2027-03-03", "2027-04-10"],
            "change_fee_cents": [None, 5000],
            "refund_cents": [None, 0],
            "due_cents": [None, 5000],
        },
        (
            "Maria moved the booking from 3 Mar 2027 to 10 Apr 2027, with a change fee of "
            "50.00 USD and 50.00 USD to pay"
        ),
    ),
    (
        "booking.date_change_paid",
        "stripe",
        BOOKING,
        {"paid_cents": [180000, 185000]},
        "Stripe recorded the payment of 50.00 USD for moving the booking for 3 Mar 2027",
    ),
    (
        "booking.contact_updated",
        "staff",
        BOOKING,
        {"email": ["<set>", "<set>"], "contact_fields": [[], ["email"]]},
        "Maria changed the couple's e-mail",
    ),
    (
        "booking.answers_updated",
        "couple",
        BOOKING,
        {"answers": [["guests"], ["guests", "venue"]]},
        "The couple changed the answers to the booking questions of the booking for 3 Mar 2027",
    ),
    (
        "booking.disputed",
        "stripe",
        BOOKING,
        {
            "dispute": [None, "dp_1"],
            "dispute_status": [None, "needs_response"],
            "dispute_reason": [None, "fraudulent"],
            "dispute_amount_cents": [None, 180000],
        },
        "Stripe reported a dispute of 1,800.00 USD on the booking for 3 Mar 2027 (fraudulent)",
    ),
    (
        "booking.dispute_updated",
        "stripe",
        BOOKING,
        {"dispute_status": ["needs_response", "won"]},
        "Stripe updated the dispute on the booking for 3 Mar 2027: won",
    ),
    (
        "booking.refund_requested",
        "staff",
        BOOKING,
        {
            "refund": [None, 7],
            "refund_amount_cents": [None, 90000],
            "refund_reason": [None, "staff_cancel"],
        },
        (
            "Maria asked Stripe to refund 900.00 USD of the booking for 3 Mar 2027 (staff canceled "
            "the booking)"
        ),
    ),
    (
        "booking.refund_failed",
        "system",
        BOOKING,
        {"refund": [None, 7], "refund_status": ["requested", "failed"]},
        "A refund for the booking for 3 Mar 2027 failed at Stripe",
    ),
    (
        "booking.refund_updated",
        "stripe",
        BOOKING,
        {
            "refund": [None, "re_1"],
            "refund_status": ["pending", "succeeded"],
            "refund_amount_cents": [None, 90000],
            "refund_reason": [None, "staff_cancel"],
        },
        "Stripe reported that the refund of 900.00 USD for the booking for 3 Mar 2027 went through",
    ),
    (
        "booking.refunded",
        "stripe",
        BOOKING,
        {"refunded_cents": [0, 90000], "commission_refunded_cents": [0, 9000]},
        "Stripe recorded a refund of 900.00 USD for the booking for 3 Mar 2027",
    ),
    (
        "booking.reconciled",
        "command:reconcile_stripe",
        BOOKING,
        {"difference": ["refund_unrecorded", None]},
        (
            "An Altar command (reconcile_stripe) brought the booking for 3 Mar 2027 in line with "
            "Stripe (refund unrecorded)"
        ),
    ),
    (
        "booking.balance_charge_requested",
        "system",
        BOOKING,
        {"balance_payment": [None, 3], "balance_cents": [None, 90000]},
        (
            "Altar started charging the balance of 900.00 USD for the booking for 3 Mar 2027 "
            "to the saved card"
        ),
    ),
    (
        "booking.balance_charge_failed",
        "system",
        BOOKING,
        {"balance_payment": [3, 3], "failure": [None, "card_declined"]},
        (
            "Charging the balance of the booking for 3 Mar 2027 to the saved card failed (card "
            "declined); the couple gets a link to pay"
        ),
    ),
    (
        "booking.balance_paid",
        "stripe",
        BOOKING,
        {"balance_payment": [None, 3], "paid_cents": [90000, 180000]},
        "Stripe recorded a balance payment of 900.00 USD for the booking for 3 Mar 2027",
    ),
    (
        "booking.offline_payment",
        "staff",
        BOOKING,
        {
            "offline_payment": [None, 5],
            "paid_cents": [90000, 180000],
            "note": [None, "Bank transfer"],
        },
        (
            "Maria recorded an offline payment of 900.00 USD for the booking for 3 Mar 2027 (“Bank "
            "transfer”)"
        ),
    ),
    (
        "booking.balance_link_sent",
        "staff",
        BOOKING,
        {"balance_link": [None, 1]},
        "Maria sent the couple a link to pay the balance of the booking for 3 Mar 2027",
    ),
    (
        "blackout.added",
        "staff",
        "2027-03-03 ",
        {"date": [None, "2027-03-03"], "reason": [None, "Family wedding"]},
        "Maria blacked out 3 Mar 2027 (“Family wedding”)",
    ),
    (
        "blackout.updated",
        "staff",
        "2027-03-03 Family wedding",
        {"reason": ["Family wedding", "Holiday"]},
        "Maria changed the reason for the blackout on 3 Mar 2027 to “Holiday”",
    ),
    (
        "blackout.deleted",
        "staff",
        "2027-03-03 Holiday",
        {"date": ["2027-03-03", None], "reason": ["Holiday", None]},
        "Maria removed the blackout on 3 Mar 2027",
    ),
    (
        "gift_card.redeemed",
        "system",
        "Gift card 12",
        {},
        "Altar recorded “gift card redeemed” on Gift card 12",
    ),
]


@pytest.fixture
def maria(tenant):
    return MembershipFactory(tenant=tenant, user__first_name="Maria").user


def entry_for(tenant, maria, action, actor, object_repr, changes) -> AuditEntry:
    kind = actor.partition(":")[0]
    return AuditEntry(
        tenant=tenant,
        action=action,
        object_type="x",
        object_repr=object_repr,
        changes=changes,
        actor_kind=kind,
        actor_label=actor if kind == "command" else "",
        actor_user=maria if kind == "staff" else None,
    )


@pytest.mark.parametrize(
    ("action", "actor", "object_repr", "changes", "sentence"), KINDS, ids=[k[0] for k in KINDS]
)
def test_each_kind_reads_as_one_sentence(
    tenant, maria, action, actor, object_repr, changes, sentence
):
    entry = entry_for(tenant, maria, action, actor, object_repr, changes)

    assert entry_sentence(entry) == sentence


def test_every_recorded_action_has_a_sentence():
    # Every `action="…"` in the apps' code, including the conditional
    # `action="a" if … else "b"`: a new kind without a template fails here.
    recorded = set()
    for path in ROOT.glob("*/**/*.py"):
        top = path.relative_to(ROOT).parts[0]
        if top in {".venv", "tests", "tools"} or "migrations" in path.parts:
            continue
        for expression in re.findall(r"action=(\"[^\n]+)", path.read_text()):
            recorded |= set(re.findall(r'"([a-z_]+\.[a-z_]+)"', expression))

    assert len(recorded) == 59
    assert sorted(recorded - set(SENTENCES)) == []
    assert sorted(set(KINDS_BY_ACTION) - {"gift_card.redeemed"}) == sorted(SENTENCES)


KINDS_BY_ACTION = {kind[0]: kind for kind in KINDS}


def test_money_follows_the_currency_jpy_has_no_decimals(maria):
    tenant = Tenant(name="Sakura", slug="sakura", currency="jpy", timezone="Asia/Tokyo")
    entry = entry_for(
        tenant,
        maria,
        "booking.canceled",
        "staff",
        BOOKING,
        {"cancel_reason": ["", "staff"], "refund_decided_cents": [None, 90000]},
    )

    assert (
        entry_sentence(entry) == "Maria canceled the booking for 3 Mar 2027 and refunded 90,000 JPY"
    )


def test_a_cancel_that_overrides_the_policy_says_what_the_policy_gave(tenant, maria):
    entry = entry_for(
        tenant,
        maria,
        "booking.canceled",
        "staff",
        BOOKING,
        {
            "cancel_reason": ["", "staff"],
            "refund_decided_cents": [None, 0],
            "refund_policy_cents": [None, 90000],
            "policy_overridden": [None, True],
        },
    )

    assert entry_sentence(entry) == (
        "Maria canceled the booking for 3 Mar 2027 with no refund (the policy gave 900.00 USD)"
    )


def test_staff_without_a_name_read_as_their_login_and_an_entry_of_an_old_shape_still_reads(tenant):
    jo = UserFactory(username="jo@example.com")
    entry = entry_for(
        tenant, None, "booking.date_changed", "staff", BOOKING, {"event_date": "2027"}
    )
    entry.actor_user = jo

    assert entry_sentence(entry) == f"jo@example.com recorded “booking date changed” on {BOOKING}"


def test_raw_changes_show_money_in_units_times_in_the_business_zone(tenant, maria):
    Tenant.objects.filter(pk=tenant.pk).update(timezone="America/Denver")
    tenant.refresh_from_db()
    entry = entry_for(
        tenant,
        maria,
        "booking.held",
        "couple",
        BOOKING,
        {"amount_cents": [None, 180000], "hold_expires_at": [None, "2031-07-01T18:30:00+00:00"]},
    )

    with timezone.override("America/Denver"):
        raw = entry_changes_json(entry)

    assert raw == (
        '{\n  "amount": [\n    null,\n    "1,800.00 USD"\n  ],\n'
        '  "hold_expires_at": [\n    null,\n    "2031-07-01T12:30:00-06:00"\n  ]\n}'
    )


# --- real changes, as the pages show them ----------------------------------------


def test_staff_cancel_reads_on_the_booking_page_with_its_raw_change_folded(
    client, tenant, maria, unscoped
):
    booking = BookingFactory(
        tenant=tenant,
        event_date="2027-03-03",
        amount_cents=180_000,
        stripe_payment_intent_id="pi_test_words",
    )
    client.force_login(maria)
    with actor_context("staff", maria.get_username(), user=maria):
        booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=90_000)
        booking_contact_update(tenant=tenant, booking_id=booking.pk, email="new@example.com")

    page = client.get(f"/admin/bookings/booking/{booking.pk}/change/")
    history = client.get(f"/admin/bookings/booking/{booking.pk}/history/")

    html = page.content.decode()
    sentences = re.findall(r'<span class="audit-sentence">(.*?)</span>', html)
    assert sentences == [
        "Maria changed the couple&#x27;s e-mail",
        "Maria asked Stripe to refund 900.00 USD of the booking for 3 Mar 2027 "
        "(staff canceled the booking)",
        "Maria canceled the booking for 3 Mar 2027 and refunded 900.00 USD",
    ]
    assert html.count('<details class="audit-raw"><summary>Before and after</summary>') == 3
    assert re.findall(r'<p class="audit-sentence">(.*?)</p>', history.content.decode()) == sentences
