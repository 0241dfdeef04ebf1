"""Stripe Connect routing (issue 9, #9): destination charges go to a tenant's
account only while its `transfers` capability is active, as Stripe says when
asked (every `account.updated` re-reads the account: payloads can be stale
and arrive in any order), and never after the account deauthorized the
platform."""

from __future__ import annotations

import logging

import pytest
from django.core import mail

from tenants.models import AuditEntry
from tests.conftest import CONNECT_SECRET
from webhooks.models import StripeEvent

pytestmark = pytest.mark.django_db

ROUTED_FIELDS = ("stripe_charges_enabled", "stripe_transfers_active")


def connect(tenant, account: dict) -> None:
    tenant.stripe_account_id = account["id"]
    tenant.save()


def routed_state(tenant) -> tuple[bool, bool]:
    tenant.refresh_from_db()
    return tenant.stripe_charges_enabled, tenant.stripe_transfers_active


def session_params(stripe_standin) -> dict:
    calls = [r for r in stripe_standin.requests if r.path == "/v1/checkout/sessions"]
    return calls[-1].params


def test_charges_enabled_without_active_transfers_does_not_route(
    webhooks, stripe_standin, tenant, checkout
):
    account = stripe_standin.create_account(charges_enabled=False)
    connect(tenant, account)

    delivery = stripe_standin.update_account(
        account["id"],
        charges_enabled=True,
        capabilities={"card_payments": "active", "transfers": "pending"},
    )
    booking = checkout()

    assert delivery.status == 200
    assert routed_state(tenant) == (True, False)
    assert booking.stripe_account_id == ""
    assert "transfer_data" not in session_params(stripe_standin)["payment_intent_data"]


def test_a_stale_payload_is_not_trusted_the_account_is_re_read(
    webhooks, stripe_standin, tenant, checkout
):
    # The payload claims transfers are active; Stripe, asked, says they are not.
    account = stripe_standin.create_account(charges_enabled=False)
    connect(tenant, account)
    claimed = {
        **account,
        "charges_enabled": True,
        "capabilities": {"card_payments": "active", "transfers": "active"},
    }
    event = stripe_standin.build_event("account.updated", claimed, account=account["id"])

    response = webhooks.post(event, secret=CONNECT_SECRET, path=webhooks.connect_path)

    assert response.status_code == 200
    assert routed_state(tenant) == (False, False)
    assert StripeEvent.objects.get().outcome == ("account re-read: transfers inactive; no change")


def test_events_in_any_order_end_with_the_accounts_current_state(
    webhooks, stripe_standin, tenant, checkout
):
    account = stripe_standin.create_account(charges_enabled=False)
    connect(tenant, account)
    stripe_standin.configure_webhooks()  # collect both events, deliver in reverse
    enabled = stripe_standin.update_account(account["id"], charges_enabled=True).event
    disabled = stripe_standin.update_account(account["id"], charges_enabled=False).event
    # Onboarding finished again afterwards: the account is active now.
    current = stripe_standin.update_account(account["id"], charges_enabled=True).event

    for event in (current, disabled, enabled):
        assert (
            webhooks.post(event, secret=CONNECT_SECRET, path=webhooks.connect_path).status_code
            == 200
        )

    assert routed_state(tenant) == (True, True)
    booking = checkout()
    assert booking.stripe_account_id == account["id"]


def test_a_failed_account_read_is_retried_by_the_next_delivery(webhooks, stripe_standin, tenant):
    account = stripe_standin.create_account(charges_enabled=False)
    connect(tenant, account)
    stripe_standin.configure_webhooks()
    event = stripe_standin.update_account(account["id"], charges_enabled=True).event
    stripe_standin.fail_next("GET", f"/v1/accounts/{account['id']}", status=500)

    first = webhooks.post(event, secret=CONNECT_SECRET, path=webhooks.connect_path)
    record = StripeEvent.objects.get()
    assert (first.status_code, record.status, record.last_error_type) == (
        500,
        "failed",
        "bookings.errors.PaymentProviderError",
    )
    assert routed_state(tenant) == (False, False)

    second = webhooks.post(event, secret=CONNECT_SECRET, path=webhooks.connect_path)

    assert second.status_code == 200
    record.refresh_from_db()
    assert (record.status, record.attempts) == ("processed", 2)
    assert routed_state(tenant) == (True, True)


def test_an_account_stripe_no_longer_lets_us_read_is_not_routed(webhooks, stripe_standin, tenant):
    # The tenant was routed to an account Stripe now answers 404 for.
    tenant.stripe_account_id = "acct_1GoneAway0000000"
    tenant.stripe_transfers_active = tenant.stripe_charges_enabled = True
    tenant.save()
    event = stripe_standin.build_event(
        "account.updated",
        {"id": tenant.stripe_account_id, "object": "account"},
        account=tenant.stripe_account_id,
    )

    response = webhooks.post(event, secret=CONNECT_SECRET, path=webhooks.connect_path)

    assert response.status_code == 200
    assert routed_state(tenant) == (False, False)
    assert tenant.connect_account_for_charges is None
    assert StripeEvent.objects.get().outcome == (
        "account re-read: account not accessible to the platform; changed"
    )


def test_an_event_for_an_account_no_tenant_owns_is_ignored(webhooks, stripe_standin, tenant):
    account = stripe_standin.create_account(charges_enabled=False)

    delivery = stripe_standin.update_account(account["id"], charges_enabled=True)

    assert delivery.status == 200
    record = StripeEvent.objects.get()
    assert (record.status, record.outcome, record.tenant) == (
        "ignored",
        "no tenant matches this event",
        None,
    )
    assert routed_state(tenant) == (False, False)


@pytest.mark.django_db(transaction=True)
def test_the_account_is_read_outside_any_transaction(webhooks, stripe_standin, tenant, monkeypatch):
    from django.db import connection

    from webhooks import handlers

    account = stripe_standin.create_account(charges_enabled=False)
    connect(tenant, account)
    in_transaction = []
    real_read = handlers.payments.connect_account_retrieve

    def spy(**kwargs):
        in_transaction.append(connection.in_atomic_block)
        return real_read(**kwargs)

    monkeypatch.setattr(handlers.payments, "connect_account_retrieve", spy)

    delivery = stripe_standin.update_account(account["id"], charges_enabled=True)

    assert delivery.status == 200
    assert in_transaction == [False]
    assert routed_state(tenant) == (True, True)


def deauthorized_event(stripe_standin, account_id: str) -> dict:
    # The object is the platform's Connect Application; `account` names the
    # account that disconnected it.
    application = {"id": "ca_1AltarPlatformApp0000", "object": "application", "name": "Altar"}
    return stripe_standin.build_event(
        "account.application.deauthorized", application, account=account_id
    )


def test_deauthorization_stops_routing_tells_ops_and_survives_stale_updates(
    webhooks, stripe_standin, tenant, checkout, staff_client, caplog
):
    account = stripe_standin.create_account(charges_enabled=False)
    connect(tenant, account)
    stripe_standin.configure_webhooks()
    stale_update = stripe_standin.update_account(account["id"], charges_enabled=True).event
    webhooks.post(stale_update, secret=CONNECT_SECRET, path=webhooks.connect_path)
    assert routed_state(tenant) == (True, True)
    event = deauthorized_event(stripe_standin, account["id"])

    with caplog.at_level(logging.ERROR, logger="altar.tenants"):
        first = webhooks.post(event, secret=CONNECT_SECRET, path=webhooks.connect_path)
    again = webhooks.post(event, secret=CONNECT_SECRET, path=webhooks.connect_path)
    # An `account.updated` from before the disconnection, delivered late.
    replayed = stripe_standin.build_event(
        "account.updated", stale_update["data"]["object"], account=account["id"]
    )
    webhooks.post(replayed, secret=CONNECT_SECRET, path=webhooks.connect_path)
    booking = checkout()

    assert (first.status_code, again.status_code) == (200, 200)
    tenant.refresh_from_db()
    assert tenant.stripe_account_deauthorized_at is not None
    assert (tenant.stripe_charges_enabled, tenant.stripe_transfers_active) == (False, False)
    assert booking.stripe_account_id == ""
    assert "transfer_data" not in session_params(stripe_standin)["payment_intent_data"]
    assert AuditEntry.objects.filter(action="tenant.connect_deauthorized").count() == 1
    assert [r.levelname for r in caplog.records if "deauthorized" in r.getMessage()] == ["ERROR"]
    assert StripeEvent.objects.get(event_id=event["id"]).outcome == "routing stopped"
    dashboard = staff_client.get("/admin/").content.decode()
    assert "Stripe Connect account disconnected" in dashboard
    assert account["id"] in dashboard
    assert mail.outbox == []


def test_recording_another_account_clears_the_deauthorization(webhooks, stripe_standin, tenant):
    from tenants.services import tenant_update

    account = stripe_standin.create_account(charges_enabled=True)
    connect(tenant, account)
    webhooks.post(
        deauthorized_event(stripe_standin, account["id"]),
        secret=CONNECT_SECRET,
        path=webhooks.connect_path,
    )
    fresh = stripe_standin.create_account(charges_enabled=False)

    tenant_update(tenant=tenant, stripe_account_id=fresh["id"])
    stripe_standin.update_account(fresh["id"], charges_enabled=True)

    tenant.refresh_from_db()
    assert tenant.stripe_account_deauthorized_at is None
    assert tenant.connect_account_for_charges == fresh["id"]
