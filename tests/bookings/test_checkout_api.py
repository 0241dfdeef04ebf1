"""POST /api/v1/checkout through the real Stripe client against the stand-in."""

from __future__ import annotations

import pytest
from django.utils import timezone

from bookings.models import Booking, BookingAddOn
from tests.factories import checkout_body, days_ahead

pytestmark = pytest.mark.django_db


def test_checkout_holds_the_date_and_opens_a_stripe_session(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(add_ons=["flowers", "photos"]), format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    booking = Booking.objects.get()
    assert body["booking"]["id"] == str(booking.pk)
    assert body["booking"]["status"] == "held"
    assert body["booking"]["amount_cents"] == 150_000 + 12_345 + 40_000
    assert body["checkout_url"] == booking.checkout_url
    session = stripe_standin.get(booking.stripe_checkout_session_id)
    assert session["client_reference_id"] == str(booking.pk)
    assert session["metadata"] == {"booking_id": str(booking.pk), "tenant": tenant.slug}
    # The hold outlives the session by the grace (bookings.services.HOLD_GRACE).
    assert session["expires_at"] + 600 == int(booking.hold_expires_at.timestamp())
    assert session["amount_total"] == booking.amount_cents
    assert BookingAddOn.objects.count() == 2


def session_requests(standin):
    return [r for r in standin.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]


def test_session_has_one_line_per_item_and_the_booking_keys(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(add_ons=["photos", "flowers"]), format="json"
    )

    booking = Booking.objects.get(pk=response.json()["booking"]["id"])
    (request,) = session_requests(stripe_standin)
    assert request.idempotency_key == f"altar-checkout-{booking.pk}"
    assert request.stripe_account is None
    assert request.params["customer_email"] == "ada@example.com"
    assert (
        request.params["success_url"]
        == f"http://127.0.0.1:8000/bookings/{booking.pk}/?checkout=success"
    )
    lines = [
        (li["price_data"]["product_data"]["name"], int(li["price_data"]["unit_amount"]))
        for li in request.params["line_items"]
    ]
    assert lines == [("Elopement", 150_000), ("Photos", 40_000), ("Flowers", 12_345)]
    assert "application_fee_amount" not in request.params["payment_intent_data"]
    assert "transfer_data" not in request.params["payment_intent_data"]


def test_tenant_url_templates_replace_the_booking_id(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    tenant.success_url_template = "https://alpha.example/thanks?b={BOOKING_ID}"
    tenant.cancel_url_template = "https://alpha.example/sorry/{BOOKING_ID}"
    tenant.save()

    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    booking_id = response.json()["booking"]["id"]
    (request,) = session_requests(stripe_standin)
    assert request.params["success_url"] == f"https://alpha.example/thanks?b={booking_id}"
    assert request.params["cancel_url"] == f"https://alpha.example/sorry/{booking_id}"


def test_connect_account_gets_a_destination_charge_with_the_commission_as_fee(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    account = stripe_standin.create_account(charges_enabled=True)
    tenant.stripe_account_id = account["id"]
    tenant.stripe_charges_enabled = tenant.stripe_transfers_active = True
    tenant.commission_bps = 1250
    tenant.save()

    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(add_ons=["flowers"]), format="json"
    )

    assert response.status_code == 201
    booking = Booking.objects.get()
    amount = 150_000 + 12_345
    # round-half-up(162345 * 1250 / 10000) = round(20293.125) = 20293
    assert (booking.amount_cents, booking.commission_bps, booking.commission_cents) == (
        amount,
        1250,
        20293,
    )
    assert booking.stripe_account_id == account["id"]
    (request,) = session_requests(stripe_standin)
    assert request.stripe_account is None  # destination charge: created on the platform
    assert int(request.params["payment_intent_data"]["application_fee_amount"]) == 20293
    assert request.params["payment_intent_data"]["transfer_data"] == {"destination": account["id"]}


@pytest.mark.parametrize(
    ("charges_enabled", "transfers_active", "deauthorized"),
    [(True, False, False), (True, True, True)],
    ids=["transfers-inactive", "deauthorized"],
)
def test_connect_account_without_active_transfers_or_deauthorized_is_not_used(
    tenant_api,
    tenant,
    catalog,
    stripe_standin,
    unscoped,
    charges_enabled,
    transfers_active,
    deauthorized,
):
    # Destination charges need the `transfers` capability, not charges_enabled.
    account = stripe_standin.create_account(charges_enabled=True)
    tenant.stripe_account_id = account["id"]
    tenant.stripe_charges_enabled = charges_enabled
    tenant.stripe_transfers_active = transfers_active
    tenant.stripe_account_deauthorized_at = timezone.now() if deauthorized else None
    tenant.save()

    tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    booking = Booking.objects.get()
    assert booking.stripe_account_id == ""
    (request,) = session_requests(stripe_standin)
    assert "transfer_data" not in request.params["payment_intent_data"]
    assert "application_fee_amount" not in request.params["payment_intent_data"]


def test_connect_account_that_cannot_take_charges_is_not_used(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    account = stripe_standin.create_account(charges_enabled=False)
    tenant.stripe_account_id = account["id"]
    tenant.stripe_charges_enabled = False
    tenant.save()

    tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    booking = Booking.objects.get()
    assert booking.stripe_account_id == ""
    (request,) = session_requests(stripe_standin)
    assert "transfer_data" not in request.params["payment_intent_data"]
    assert booking.commission_cents == 16_235  # stored even when no fee is sent: 10 % of 162345


@pytest.mark.parametrize("status", [400, 402, 500, 503])
def test_stripe_refusing_answers_502_and_leaves_nothing_held(
    tenant_api, catalog, stripe_standin, unscoped, status
):
    stripe_standin.fail_next("POST", "/v1/checkout/sessions", status=status)

    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"
    assert Booking.objects.count() == 0
    assert BookingAddOn.objects.count() == 0
    available = tenant_api.get(f"/api/v1/availability/{checkout_body()['event_date']}").json()
    assert available["available"] is True


def test_stripe_unreachable_answers_502_and_leaves_nothing_held(
    tenant_api, catalog, settings, unscoped
):
    settings.STRIPE_API_BASE = "http://127.0.0.1:9"  # nothing listens there

    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "payment_provider_error"
    assert Booking.objects.count() == 0


def test_stripe_timing_out_answers_502_and_leaves_nothing_held(
    tenant_api, catalog, stripe_standin, settings, unscoped
):
    settings.STRIPE_TIMEOUT_SECONDS = 0.2
    stripe_standin.hang_next("POST", "/v1/checkout/sessions", seconds=30)

    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    assert response.status_code == 502
    assert Booking.objects.count() == 0


def test_price_changes_after_checkout_do_not_alter_the_booking(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    from catalog.services import add_on_update, package_update

    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(add_ons=["flowers"]), format="json"
    )
    booking_id = response.json()["booking"]["id"]
    package_update(tenant=tenant, slug="elopement", price_cents=999_999)
    add_on_update(tenant=tenant, slug="flowers", price_cents=1, title="Cheap flowers")

    body = tenant_api.get(f"/api/v1/bookings/{booking_id}").json()

    assert body["amount_cents"] == 162_345
    assert body["add_ons"] == [{"slug": "flowers", "title": "Flowers", "price_cents": 12_345}]


# --- Idempotency-Key -----------------------------------------------------------


def test_same_key_and_body_replays_the_first_answer(tenant_api, catalog, stripe_standin, unscoped):
    body = checkout_body()

    first = tenant_api.post("/api/v1/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    second = tenant_api.post("/api/v1/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert Booking.objects.count() == 1
    assert len(session_requests(stripe_standin)) == 1


def test_same_key_with_another_body_is_refused(tenant_api, catalog, stripe_standin, unscoped):
    tenant_api.post("/api/v1/checkout", checkout_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-2")

    response = tenant_api.post(
        "/api/v1/checkout",
        checkout_body(event_date=days_ahead(91).isoformat()),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "idempotency_key_reused"
    assert Booking.objects.count() == 1


def test_key_still_being_processed_is_refused(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    from django.utils import timezone

    from bookings.api.idempotency import request_fingerprint
    from bookings.models import IdempotencyRecord

    body = checkout_body()
    # What a first request, still waiting on Stripe in another process, has written.
    IdempotencyRecord.objects.create(
        tenant=tenant, key="k-3", request_hash=request_fingerprint(body), created_at=timezone.now()
    )

    response = tenant_api.post("/api/v1/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="k-3")

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "idempotency_in_progress"
    assert Booking.objects.count() == 0


def test_key_abandoned_by_a_dead_request_can_be_used_again(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    import datetime as dt

    from django.utils import timezone

    from bookings.api.idempotency import request_fingerprint
    from bookings.models import IdempotencyRecord

    body = checkout_body()
    IdempotencyRecord.objects.create(
        tenant=tenant,
        key="k-4",
        request_hash=request_fingerprint(body),
        created_at=timezone.now() - dt.timedelta(minutes=10),
    )

    response = tenant_api.post("/api/v1/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="k-4")

    assert response.status_code == 201
    assert Booking.objects.count() == 1


def test_a_refused_request_releases_its_key(tenant_api, catalog, stripe_standin, unscoped):
    refused = tenant_api.post(
        "/api/v1/checkout", checkout_body(package="nope"), format="json", HTTP_IDEMPOTENCY_KEY="k-5"
    )
    retried = tenant_api.post(
        "/api/v1/checkout", checkout_body(), format="json", HTTP_IDEMPOTENCY_KEY="k-5"
    )

    assert (refused.status_code, retried.status_code) == (404, 201)
    assert Booking.objects.count() == 1


def test_keys_are_per_tenant(
    tenant_api, other_tenant_api, tenant, other_tenant, catalog, stripe_standin, unscoped
):
    from tests.factories import make_catalog

    make_catalog(other_tenant)
    body = checkout_body()

    first = tenant_api.post("/api/v1/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="shared")
    second = other_tenant_api.post(
        "/api/v1/checkout", body, format="json", HTTP_IDEMPOTENCY_KEY="shared"
    )

    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["booking"]["id"] != second.json()["booking"]["id"]
    assert Booking.objects.count() == 2


def test_overlong_idempotency_key_is_a_validation_error(
    tenant_api, catalog, stripe_standin, unscoped
):
    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(), format="json", HTTP_IDEMPOTENCY_KEY="k" * 256
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["Idempotency-Key"][0]["code"] == "invalid"
    assert Booking.objects.count() == 0
