"""Issue 14, cancellation policy: copied onto the booking at checkout, shown
to the couple; couple self-cancel (API and manage my booking) refunds
exactly the policy's amount exactly once, frees the date, e-mails both sides
a METHOD:CANCEL .ics; self-cancel off → a request on the dashboard; staff
cancel proposes the policy's refund and records an override."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from django.core import mail

from bookings.agreements import policy_save
from bookings.errors import BookingChangedMeanwhile, BookingNotCancelable
from bookings.manage_links import manage_path, manage_token
from bookings.models import Booking, BookingPolicy, BookingRefund, CancellationRequest
from bookings.services import booking_cancel, booking_cancel_by_couple, booking_hold
from tenants.models import AuditEntry
from tenants.scoping import tenant_scope
from tests.concurrency import run_together
from tests.conftest import checkout_through_service, pay_on_standin, run_outbox
from tests.factories import TenantFactory, checkout_body, days_ahead, make_catalog

TIERS = [{"days_before": 180, "refund_percent": 100}, {"days_before": 60, "refund_percent": 50}]


def set_policy(tenant, **fields) -> BookingPolicy:
    fields.setdefault("cancellation_tiers", TIERS)
    fields.setdefault("self_cancel_allowed", True)
    with tenant_scope(tenant):
        return policy_save(tenant=tenant, policy=BookingPolicy(**fields))


def paid_booking_at(tenant, tenant_api, standin, *, days: int) -> Booking:
    response = tenant_api.post(
        "/api/v1/checkout",
        checkout_body(event_date=days_ahead(days).isoformat(), add_ons=[]),
        format="json",
    )
    assert response.status_code == 201, response.json()
    booking = Booking.objects.get(pk=response.json()["booking"]["id"])
    pay_on_standin(standin, tenant, booking)
    run_outbox()  # the confirmation e-mails
    booking.refresh_from_db()
    mail.outbox.clear()
    return booking


def headers(booking) -> dict:
    return {"HTTP_X_MANAGE_TOKEN": manage_token(booking.pk)}


# --- the policy travels with the booking ----------------------------------------


@pytest.mark.django_db
def test_the_policy_in_force_at_checkout_is_copied_onto_the_booking(
    tenant, tenant_api, catalog, stripe_standin, unscoped
):
    set_policy(tenant)
    booking = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)

    set_policy(tenant, cancellation_tiers=[{"days_before": 0, "refund_percent": 0}])

    booking.refresh_from_db()
    assert booking.cancellation_policy == TIERS
    quote = tenant_api.get(f"/api/v1/bookings/{booking.pk}/cancellation", **headers(booking))
    assert quote.json() == {
        "self_cancel_allowed": True,
        "refusal": None,
        "refund_cents": 75_000,  # 60 to 179 days before: 50 % of 150,000
        "currency": "usd",
        "cancellation_policy": TIERS,
    }


@pytest.mark.django_db
def test_booking_page_and_confirmation_email_state_the_policy(
    client, tenant, catalog, stripe_standin, outbox, unscoped
):
    set_policy(tenant)
    page = client.get(f"/book/{tenant.slug}/").content.decode()
    assert (
        "Cancel at least 180 days before the wedding for a refund of 100 % of what you paid."
        in page
    )
    assert "After that, there is no refund." in page

    with tenant_scope(tenant):
        booking = checkout_through_service(tenant, days=100)
        pay_on_standin(stripe_standin, tenant, booking)
    (couple_mail,) = [m for m in outbox() if m.to == ["ada@example.com"]]
    cancel_by = days_ahead(100) - dt.timedelta(days=60)
    assert f"Cancel by {cancel_by:%A, %-d %B %Y} for a refund of 50 % of what you paid." in (
        couple_mail.body
    )


# --- couple self-cancel ------------------------------------------------------------


@pytest.mark.django_db
def test_couple_cancels_through_the_api_refunds_the_policy_amount_once_and_frees_the_date(
    tenant, tenant_api, catalog, stripe_standin, outbox, staff_user, unscoped
):
    set_policy(tenant)
    booking = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)

    response = tenant_api.post(
        f"/api/v1/bookings/{booking.pk}/cancel",
        {"expected_refund_cents": 75_000},
        format="json",
        **headers(booking),
    )

    assert response.status_code == 200, response.json()
    assert response.json()["refund_cents"] == 75_000
    assert response.json()["booking"]["status"] == "canceled"
    sent = outbox()
    booking.refresh_from_db()
    assert (booking.status, booking.cancel_reason) == ("canceled", "couple")
    (refund,) = BookingRefund.objects.filter(booking=booking)
    assert (refund.amount_cents, refund.reason, refund.status) == (
        75_000,
        "couple_cancel",
        "succeeded",
    )
    assert booking.refunded_cents == 75_000
    assert booking.commission_refunded_cents == booking.commission_cents // 2
    assert (
        len([r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/refunds"])
        == 1
    )
    # Both sides get the calendar cancellation: same UID, next SEQUENCE.
    assert sorted(m.to[0] for m in sent) == sorted(["ada@example.com", staff_user.email])
    for message in sent:
        (_name, ics, mimetype) = message.attachments[0]
        assert mimetype == "text/calendar; charset=utf-8; method=CANCEL"
        assert "METHOD:CANCEL\r\n" in ics
        assert f"UID:booking-{booking.pk}@altar\r\n" in ics
        assert "SEQUENCE:1\r\n" in ics
        assert "STATUS:CANCELLED\r\n" in ics
    # The date is free again.
    with tenant_scope(tenant):
        again = booking_hold(
            tenant=tenant,
            package_slug="elopement",
            add_on_slugs=[],
            event_date=booking.event_date,
            couple_name="Next couple",
            email="next@example.com",
        )
    assert again.status == "held"
    entry = AuditEntry.objects.filter(action="booking.canceled", object_id=str(booking.pk)).get()
    assert entry.changes["policy_overridden"] == [None, False]
    assert entry.actor_kind == "couple"


@pytest.mark.django_db
def test_a_refund_other_than_the_one_shown_changes_nothing(
    tenant, tenant_api, catalog, stripe_standin, unscoped
):
    set_policy(tenant)
    booking = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)

    response = tenant_api.post(
        f"/api/v1/bookings/{booking.pk}/cancel",
        {"expected_refund_cents": 150_000},
        format="json",
        **headers(booking),
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "booking_changed"
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    assert BookingRefund.objects.count() == 0


@pytest.mark.django_db
def test_cancel_without_the_token_is_not_found(
    tenant, tenant_api, catalog, stripe_standin, unscoped
):
    set_policy(tenant)
    booking = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)

    response = tenant_api.post(
        f"/api/v1/bookings/{booking.pk}/cancel", {}, format="json", HTTP_X_MANAGE_TOKEN="x"
    )

    assert response.status_code == 404
    booking.refresh_from_db()
    assert booking.status == "confirmed"


@pytest.mark.django_db
def test_self_cancel_off_refuses_and_the_request_reaches_the_dashboard(
    tenant, tenant_api, catalog, stripe_standin, staff_client, unscoped
):
    set_policy(tenant, self_cancel_allowed=False)
    booking = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)

    refused = tenant_api.post(
        f"/api/v1/bookings/{booking.pk}/cancel", {}, format="json", **headers(booking)
    )
    first = tenant_api.post(
        f"/api/v1/bookings/{booking.pk}/cancellation-request",
        {"message": "We are sorry"},
        format="json",
        **headers(booking),
    )
    second = tenant_api.post(
        f"/api/v1/bookings/{booking.pk}/cancellation-request", {}, format="json", **headers(booking)
    )

    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "policy_forbids_change"
    assert refused.json()["error"]["fields"]["policy"][0]["code"] == "self_cancel_off"
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json() == second.json()
    (request,) = CancellationRequest.objects.all()
    assert request.message == "We are sorry"
    dashboard = staff_client.get("/admin/").content.decode()
    assert 'id="dash-cancellation-requests"' in dashboard
    assert f"/admin/bookings/booking/{booking.pk}/cancel/" in dashboard

    # Staff cancel it: the request is answered and leaves the dashboard.
    with tenant_scope(tenant):
        booking_cancel(tenant=tenant, booking_id=booking.pk, follow_policy=True)
    request.refresh_from_db()
    assert request.resolved_at is not None
    assert 'id="dash-cancellation-requests"' not in staff_client.get("/admin/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_concurrent_couple_cancels_refund_exactly_once(stripe_standin):
    tenant = TenantFactory()
    make_catalog(tenant)
    set_policy(tenant)
    with tenant_scope(tenant):
        booking = checkout_through_service(tenant, days=200)
        pay_on_standin(stripe_standin, tenant, booking)

    def cancel():
        with tenant_scope(tenant):
            return booking_cancel_by_couple(
                tenant=tenant, booking_id=booking.pk, expected_refund_cents=150_000
            )

    results = run_together([cancel for _ in range(6)])
    with tenant_scope(tenant):
        run_outbox()
        booking.refresh_from_db()
        refunds = list(BookingRefund.objects.filter(booking=booking))

    assert Counter(type(r).__name__ for r in results) == {"Booking": 1, "BookingNotCancelable": 5}
    assert [(r.amount_cents, r.status) for r in refunds] == [(150_000, "succeeded")]
    assert booking.refunded_cents == 150_000
    assert (
        len([r for r in stripe_standin.requests if r.method == "POST" and r.path == "/v1/refunds"])
        == 1
    )


@pytest.mark.django_db(transaction=True)
def test_couple_cancel_racing_a_staff_cancel_has_one_winner_and_one_refund(stripe_standin):
    tenant = TenantFactory()
    make_catalog(tenant)
    set_policy(tenant)
    with tenant_scope(tenant):
        booking = checkout_through_service(tenant, days=100)
        pay_on_standin(stripe_standin, tenant, booking)

    def couple():
        with tenant_scope(tenant):
            return booking_cancel_by_couple(tenant=tenant, booking_id=booking.pk)

    def staff():
        with tenant_scope(tenant):
            return booking_cancel(tenant=tenant, booking_id=booking.pk, refund_cents=0)

    results = run_together([couple, staff])
    with tenant_scope(tenant):
        booking.refresh_from_db()
        refunds = list(BookingRefund.objects.filter(booking=booking))

    assert sorted(type(r).__name__ for r in results) == ["Booking", "BookingNotCancelable"]
    if booking.cancel_reason == "couple":
        assert [r.amount_cents for r in refunds] == [75_000]
    else:
        assert booking.cancel_reason == "staff"
        assert refunds == []


@pytest.mark.django_db
def test_changed_meanwhile_is_the_error_when_the_amount_moved(
    tenant, tenant_api, catalog, stripe_standin, unscoped
):
    set_policy(tenant)
    booking = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)

    with tenant_scope(tenant), pytest.raises(BookingChangedMeanwhile):
        booking_cancel_by_couple(tenant=tenant, booking_id=booking.pk, expected_refund_cents=1)
    with tenant_scope(tenant), pytest.raises(BookingNotCancelable):
        booking_cancel_by_couple(tenant=tenant, booking_id=booking.pk, expected_refund_cents=75_000)
        booking_cancel_by_couple(tenant=tenant, booking_id=booking.pk, expected_refund_cents=75_000)


# --- manage my booking -----------------------------------------------------------------


@pytest.mark.django_db
def test_couple_cancels_from_manage_my_booking_after_confirming(
    client, tenant, tenant_api, catalog, stripe_standin, outbox, unscoped
):
    set_policy(tenant)
    booking = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)
    base = manage_path(booking.pk)

    manage = client.get(base).content.decode()
    confirm = client.get(base + "cancel/").content.decode()
    done = client.post(base + "cancel/", {"expected_refund_cents": "75000"})

    assert "Canceling today refunds $750.00." in manage
    # The 180-day tier's last day has passed: the couple is not shown it.
    assert "for a refund of 50 % of what you paid." in manage
    assert "for a refund of 100 % of what you paid." not in manage
    assert 'id="refund-today">$750.00<' in confirm
    assert "Yes, cancel and refund $750.00" in confirm
    assert done.status_code == 302
    assert done["Location"] == base + "?saved=canceled"
    booking.refresh_from_db()
    assert booking.status == "canceled"
    outbox()
    booking.refresh_from_db()
    assert booking.refunded_cents == 75_000
    after = client.get(done["Location"]).content.decode()
    assert "Your booking is canceled and the date is released." in after
    assert 'id="cancel-link"' not in after


@pytest.mark.django_db
def test_manage_page_sends_a_request_when_self_cancel_is_off(
    client, tenant, tenant_api, catalog, stripe_standin, unscoped
):
    set_policy(tenant, self_cancel_allowed=False)
    booking = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)
    base = manage_path(booking.pk)

    page = client.get(base).content.decode()
    forbidden = client.post(base + "cancel/", {"expected_refund_cents": "75000"})
    sent = client.post(base + "cancel-request/", {"message": "Please"})

    assert 'id="cancel-request-form"' in page
    assert 'id="cancel-link"' not in page
    assert forbidden.status_code == 409
    assert sent.status_code == 302
    assert CancellationRequest.objects.filter(booking=booking).count() == 1
    booking.refresh_from_db()
    assert booking.status == "confirmed"
    assert 'id="cancel-requested"' in client.get(base).content.decode()


# --- staff cancel proposes the policy ---------------------------------------------------


@pytest.mark.django_db
def test_staff_cancel_proposes_the_policy_refund_and_records_an_override(
    staff_client, tenant, tenant_api, catalog, stripe_standin, unscoped
):
    set_policy(tenant)
    follows = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)
    overrides = paid_booking_at(tenant, tenant_api, stripe_standin, days=101)

    page = staff_client.get(f"/admin/bookings/booking/{follows.pk}/cancel/").content.decode()
    review = staff_client.post(
        f"/admin/bookings/booking/{follows.pk}/cancel/", {"refund": "policy", "_review": "1"}
    ).content.decode()
    staff_client.post(
        f"/admin/bookings/booking/{follows.pk}/cancel/", {"refund": "policy", "_confirm": "1"}
    )
    staff_client.post(
        f"/admin/bookings/booking/{overrides.pk}/cancel/", {"refund": "full", "_confirm": "1"}
    )

    assert "Refund under the booking&#x27;s policy (750.00 USD)" in page
    assert 'value="policy"' in page and "checked" in page.split('value="policy"')[1][:40]
    assert 'id="review-refund">750.00 USD<' in review
    assert 'id="review-commission">75.00 USD<' in review

    def audit(booking):
        return AuditEntry.objects.get(action="booking.canceled", object_id=str(booking.pk)).changes

    assert audit(follows)["policy_overridden"] == [None, False]
    assert audit(follows)["refund_decided_cents"] == [None, 75_000]
    assert audit(overrides)["policy_overridden"] == [None, True]
    assert audit(overrides)["refund_policy_cents"] == [None, 75_000]
    assert audit(overrides)["refund_decided_cents"] == [None, 150_000]


# --- the policy in the admin ------------------------------------------------------------


@pytest.mark.django_db
def test_staff_edit_the_policy_with_a_plain_language_preview(staff_client, tenant, unscoped):
    bad = staff_client.post(
        "/admin/bookings/bookingpolicy/add/",
        {**policy_form(), "tiers": "180 50\n60 100"},
    )
    ok = staff_client.post("/admin/bookings/bookingpolicy/add/", policy_form())

    assert bad.status_code == 200
    assert (
        "Cancelling earlier must never refund less than cancelling later." in bad.content.decode()
    )
    assert ok.status_code == 302
    policy = BookingPolicy.objects.get()
    assert policy.cancellation_tiers == TIERS
    assert policy.self_cancel_allowed is True
    page = staff_client.get(f"/admin/bookings/bookingpolicy/{policy.pk}/change/").content.decode()
    assert "for a refund of 100 % of what you paid." in page
    assert "After that, there is no refund." in page
    # One policy per tenant.
    assert staff_client.get("/admin/bookings/bookingpolicy/add/").status_code == 403


@pytest.mark.django_db
def test_another_tenants_policy_is_not_found(staff_client, other_tenant, unscoped):
    theirs = set_policy(other_tenant)

    response = staff_client.get(f"/admin/bookings/bookingpolicy/{theirs.pk}/change/")

    assert response.status_code == 404


def policy_form() -> dict:
    return {
        "tiers": "180 100\n60 50",
        "self_cancel_allowed": "on",
        "date_change_min_days": "30",
        "date_change_max_count": "1",
        "date_change_fee_cents": "0",
        "answers_edit_min_days": "14",
    }


@pytest.mark.django_db
def test_without_tiers_the_booking_has_no_policy_and_staff_are_offered_no_policy_choice(
    staff_client, tenant, tenant_api, catalog, stripe_standin, unscoped
):
    set_policy(tenant, cancellation_tiers=[])
    booking = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)

    page = staff_client.get(f"/admin/bookings/booking/{booking.pk}/cancel/").content.decode()
    quote = tenant_api.get(f"/api/v1/bookings/{booking.pk}/cancellation", **headers(booking))

    assert booking.cancellation_policy is None
    assert 'value="policy"' not in page
    assert quote.json()["refusal"] == "self_cancel_off"


@pytest.mark.django_db
def test_manage_page_states_the_policy_in_the_couples_language(
    client, tenant, tenant_api, catalog, stripe_standin, unscoped
):
    set_policy(tenant)
    booking = paid_booking_at(tenant, tenant_api, stripe_standin, days=100)
    Booking.objects.filter(pk=booking.pk).update(language="es")

    page = client.get(manage_path(booking.pk)).content.decode()

    cancel_by = days_ahead(40)
    assert "Política de cancelación" in page
    assert "te devolvemos el 50 % de lo que pagaste." in page
    assert "Si cancelas hoy, te devolvemos 750,00" in page
    assert f"{cancel_by.day} de" in page
