"""The audit log: one entry per state change, with its actor and before/after
values, written in the change's own transaction; append-only; no personal
data of couples."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.utils import timezone

from bookings.models import BlackoutDate, Booking
from bookings.services import blackout_range_add
from catalog.errors import SlugTaken
from catalog.models import Package
from catalog.services import package_update
from tenants.audit import actor_context, audit_record, diff
from tenants.models import ApiKey, AuditEntry, TenantMembership
from tenants.services import api_key_issue, staff_link
from tests.admin_pages import page_form_data
from tests.conftest import run_outbox
from tests.factories import BookingFactory, PackageFactory, checkout_body, days_ahead, make_catalog

pytestmark = pytest.mark.django_db

COUPLE_PII = ("Ada & Grace", "Ada", "ada@example.com", "+1 555 0100", "Sunset, please.")


def entries(**filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("id"))


def booking_actions() -> list[str]:
    return list(
        AuditEntry.objects.filter(object_type="bookings.booking")
        .order_by("id")
        .values_list("action", flat=True)
    )


@pytest.fixture
def checkout(tenant, tenant_api, stripe_standin, unscoped):
    make_catalog(tenant)

    def start(**overrides) -> Booking:
        response = tenant_api.post("/api/v1/checkout", checkout_body(**overrides), format="json")
        assert response.status_code == 201, response.json()
        return Booking.objects.get(pk=response.json()["booking"]["id"])

    return start


# --- bookings ------------------------------------------------------------------


def test_hold_through_the_api_is_the_couples_without_their_personal_data(tenant, checkout):
    before = AuditEntry.objects.count()

    booking = checkout()

    [entry] = entries(action="booking.held")
    assert AuditEntry.objects.count() == before + 1
    assert (entry.tenant, entry.actor_kind, entry.actor_label, entry.actor_user) == (
        tenant,
        "couple",
        "couple (api)",
        None,
    )
    assert (entry.object_type, entry.object_id) == ("bookings.booking", str(booking.pk))
    assert entry.object_repr == f"{booking.event_date} · booking {booking.pk}"
    assert entry.changes == {
        "status": [None, "held"],
        "event_date": [None, booking.event_date.isoformat()],
        "package": [None, "elopement"],
        "add_ons": [None, ["flowers"]],
        "amount_cents": [None, 162_345],
        "currency": [None, "usd"],
        "hold_expires_at": [None, booking.hold_expires_at.isoformat()],
        "couple_name": ["", "<set>"],
        "email": ["", "<set>"],
        "phone": ["", "<set>"],
        "notes": ["", "<set>"],
    }
    assert entry.request_id != ""  # ties the entry to the request's log lines


@pytest.mark.usefixtures("webhooks")
def test_confirmation_by_a_stripe_event_names_the_event(tenant, checkout, stripe_standin):
    booking = checkout()

    delivery = stripe_standin.pay(booking.stripe_checkout_session_id)

    assert delivery.status == 200
    [entry] = entries(action="booking.confirmed")
    assert (entry.tenant, entry.actor_kind, entry.actor_label) == (
        tenant,
        "stripe",
        f"stripe:{delivery.event['id']}",
    )
    assert entry.object_id == str(booking.pk)
    assert entry.changes == {"status": ["held", "confirmed"], "paid_cents": [0, 162_345]}


def test_staff_cancel_in_the_admin_names_the_staff_member(
    staff_client, staff_user, tenant, unscoped
):
    booking = BookingFactory(tenant=tenant, status=Booking.Status.CONFIRMED)

    response = staff_client.post(
        f"/admin/bookings/booking/{booking.pk}/cancel/", {"refund": "none", "_confirm": "1"}
    )

    assert response.status_code == 302
    [entry] = entries()
    assert (entry.action, entry.actor_kind, entry.actor_label, entry.actor_user) == (
        "booking.canceled",
        "staff",
        staff_user.username,
        staff_user,
    )
    assert entry.changes == {
        "status": ["confirmed", "canceled"],
        "cancel_reason": ["", "staff"],
        "refund_decided_cents": [None, 0],
    }


@pytest.mark.usefixtures("webhooks")
def test_staff_cancel_with_partial_refund_records_the_refund_then_the_cancel(
    staff_client, staff_user, checkout, stripe_standin
):
    booking = checkout(add_ons=[])
    stripe_standin.pay(booking.stripe_checkout_session_id)

    response = staff_client.post(
        f"/admin/bookings/booking/{booking.pk}/cancel/",
        {"refund": "partial", "amount": "500.25", "_confirm": "1"},
    )

    assert response.status_code == 302
    run_outbox()  # the refund reaches Stripe and its answer is recorded
    assert booking_actions() == [
        "booking.held",
        "booking.confirmed",
        "booking.canceled",
        "booking.refund_requested",
        "booking.refund_updated",
        "booking.refunded",
    ]
    requested = entries(action="booking.refund_requested")[0]
    assert (requested.actor_kind, requested.actor_label) == ("staff", staff_user.username)
    assert requested.changes["refund_amount_cents"] == [None, 50_025]
    assert requested.changes["refund_reason"] == [None, "staff_cancel"]
    refunded = entries(action="booking.refunded")[0]
    assert (refunded.actor_kind, refunded.actor_label) == ("system", "task:refund_send")
    assert refunded.changes == {
        "refunded_cents": [0, 50_025],
        "commission_refunded_cents": [0, 5_003],
    }
    assert [e.actor_kind for e in entries(object_type="bookings.booking")] == [
        "couple",
        "stripe",
        "staff",
        "staff",
        "system",
        "system",
    ]


def test_expire_holds_command_records_each_expired_booking(tenant, other_tenant, unscoped):
    lapsed = [
        BookingFactory(tenant=t, status=Booking.Status.HELD, paid_cents=0)
        for t in (tenant, other_tenant)
    ]
    live = BookingFactory(tenant=tenant, status=Booking.Status.HELD)
    Booking.objects.filter(pk__in=[b.pk for b in lapsed]).update(
        hold_expires_at=timezone.now() - dt.timedelta(minutes=1)
    )

    call_command("expire_holds", stdout=StringIO())

    recorded = entries(action="booking.expired")
    assert sorted(e.object_id for e in recorded) == sorted(str(b.pk) for b in lapsed)
    assert {e.tenant_id for e in recorded} == {tenant.pk, other_tenant.pk}
    assert {(e.actor_kind, e.actor_label) for e in recorded} == {
        ("command", "command:expire_holds")
    }
    assert all(
        e.changes == {"status": ["held", "expired"], "expire_reason": [None, "hold_lapsed"]}
        for e in recorded
    )
    assert Booking.objects.get(pk=live.pk).status == "held"
    assert AuditEntry.objects.count() == 2


# --- catalog, blackouts, tenant settings, keys, staff ----------------------------


def test_package_update_in_the_admin_records_before_and_after(
    staff_client, staff_user, tenant, unscoped
):
    package = PackageFactory(tenant=tenant, slug="garden", title="Garden", price_cents=100_000)
    page = staff_client.get(f"/admin/catalog/package/{package.pk}/change/")
    body = {**page_form_data(page), "title": "Garden Ceremony", "price_cents": "1,200.00"}

    response = staff_client.post(f"/admin/catalog/package/{package.pk}/change/", body)

    assert response.status_code == 302
    [entry] = entries()
    assert (entry.action, entry.actor_kind, entry.actor_label) == (
        "package.updated",
        "staff",
        staff_user.username,
    )
    assert (entry.object_type, entry.object_id, entry.object_repr) == (
        "catalog.package",
        str(package.pk),
        "Garden Ceremony",
    )
    assert entry.changes == {
        "title": ["Garden", "Garden Ceremony"],
        "price_cents": [100_000, 120_000],
    }


def test_blackout_added_in_the_admin_and_as_a_range(staff_client, staff_user, tenant, unscoped):
    day = days_ahead(20)

    response = staff_client.post(
        "/admin/bookings/blackoutdate/add/", {"date": day.isoformat(), "reason": "Off"}
    )
    added = blackout_range_add(
        tenant=tenant, start=day, end=day + dt.timedelta(days=2), reason="Holiday"
    )

    assert response.status_code == 302
    assert added == 2
    recorded = entries(action="blackout.added")
    assert [(e.actor_kind, e.actor_label, e.changes) for e in recorded] == [
        ("staff", staff_user.username, {"date": [None, day.isoformat()], "reason": [None, "Off"]}),
        *[
            ("system", "", {"date": [None, d.isoformat()], "reason": [None, "Holiday"]})
            for d in (day + dt.timedelta(days=1), day + dt.timedelta(days=2))
        ],
    ]
    assert [e.object_id for e in recorded] == [
        str(pk) for pk in BlackoutDate.objects.order_by("date").values_list("pk", flat=True)
    ]


def test_tenant_settings_changed_by_the_owner(owner_client, owner_user, tenant, unscoped):
    page = owner_client.get(f"/admin/tenants/tenant/{tenant.pk}/change/")
    body = {**page_form_data(page), "hold_minutes": "45", "primary_color": "#112233"}

    response = owner_client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", body)

    assert response.status_code == 302
    [entry] = entries()
    assert (entry.action, entry.actor_label, entry.object_type, entry.object_id) == (
        "tenant.updated",
        owner_user.username,
        "tenants.tenant",
        str(tenant.pk),
    )
    assert entry.changes == {"hold_minutes": [30, 45], "primary_color": ["#7A4E6D", "#112233"]}


def test_key_rotation_by_command_records_old_keys_grace_and_the_new_key(tenant, unscoped):
    old = api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE).api_key
    [issued] = entries()
    assert (issued.action, issued.actor_kind) == ("api_key.issued", "system")

    out = StringIO()
    call_command(
        "rotate_api_key", "--tenant", tenant.slug, "--grace-hours", "2", "--json", stdout=out
    )

    new_key = json.loads(out.getvalue())["key"]
    old.refresh_from_db()
    recorded = entries(id__gt=issued.pk)
    assert [(e.action, e.actor_kind, e.actor_label) for e in recorded] == [
        ("api_key.rotated", "command", "command:rotate_api_key"),
        ("api_key.issued", "command", "command:rotate_api_key"),
    ]
    assert recorded[0].object_id == str(old.pk)
    assert recorded[0].changes == {"valid_until": [None, old.valid_until.isoformat()]}
    assert recorded[1].changes["kind"] == [None, "publishable"]
    assert new_key not in json.dumps([e.changes for e in recorded])


def test_staff_link_records_membership_created_then_role_changed(tenant, unscoped):
    with actor_context("command", "command:create_staff"):
        linked = staff_link(tenant=tenant, email="new@studio.example", role="staff")
        staff_link(tenant=tenant, email="new@studio.example", role="owner")
        staff_link(tenant=tenant, email="new@studio.example", role="owner")  # no change

    recorded = entries()
    assert [(e.action, e.changes) for e in recorded] == [
        ("membership.created", {"user": [None, "new@studio.example"], "role": [None, "staff"]}),
        ("membership.role_changed", {"role": ["staff", "owner"]}),
    ]
    assert {e.object_id for e in recorded} == {str(linked.membership.pk)}
    assert TenantMembership.objects.get(pk=linked.membership.pk).role == "owner"


# --- the transaction, privacy, append-only -----------------------------------------


def test_a_rolled_back_change_leaves_no_entry(tenant, unscoped):
    PackageFactory(tenant=tenant, slug="garden", title="Garden")
    PackageFactory(tenant=tenant, slug="castle", title="Castle")

    with pytest.raises(RuntimeError), transaction.atomic():
        package_update(tenant=tenant, slug="garden", title="Renamed")
        raise RuntimeError("the caller's transaction fails later")
    with pytest.raises(SlugTaken):
        package_update(tenant=tenant, slug="garden", title="Renamed", new_slug="castle")

    assert AuditEntry.objects.count() == 0
    assert Package.objects.get(slug="garden").title == "Garden"


@pytest.mark.usefixtures("webhooks")
def test_no_entry_carries_the_couples_name_email_phone_or_notes(
    tenant, checkout, stripe_standin, staff_client
):
    booking = checkout()
    stripe_standin.pay(booking.stripe_checkout_session_id)
    staff_client.post(
        f"/admin/bookings/booking/{booking.pk}/cancel/", {"refund": "full", "_confirm": "1"}
    )
    run_outbox()

    recorded = list(AuditEntry.objects.values())
    dumped = json.dumps(recorded, default=str)
    assert {e["action"] for e in recorded} >= {
        "booking.held",
        "booking.confirmed",
        "booking.refunded",
        "booking.canceled",
    }
    assert [pii for pii in COUPLE_PII if pii in dumped] == []


def test_entries_cannot_be_updated_or_deleted_even_in_sql(tenant, unscoped):
    entry = audit_record(tenant=tenant, action="test.recorded", obj=tenant, changes={})

    with pytest.raises(DatabaseError) as updating, transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="test.forged")
    with pytest.raises(DatabaseError) as deleting, transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()

    assert "append-only" in str(updating.value) and "append-only" in str(deleting.value)
    assert list(AuditEntry.objects.values_list("pk", "action")) == [(entry.pk, "test.recorded")]


def test_diff_keeps_only_changed_fields_as_json():
    before = {"title": "A", "price_cents": 1, "day": dt.date(2027, 5, 1)}
    after = {"title": "B", "price_cents": 1, "day": dt.date(2027, 5, 2), "new": None}

    assert diff(before, after) == {"title": ["A", "B"], "day": ["2027-05-01", "2027-05-02"]}
