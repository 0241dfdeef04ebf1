"""POST /api/v1/checkout refusals: every one answers its code, writes no
booking or add-on line, and never reaches Stripe."""

from __future__ import annotations

import pytest

from bookings.models import Booking, BookingAddOn
from tests.factories import (
    AddOnFactory,
    BlackoutDateFactory,
    BookingFactory,
    PackageAddOnFactory,
    PackageFactory,
    checkout_body,
    days_ahead,
)

pytestmark = pytest.mark.django_db


def session_creates(standin) -> list:
    return [r for r in standin.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"]


def assert_nothing_written(standin, *, bookings: int = 0) -> None:
    assert Booking.objects.count() == bookings
    assert BookingAddOn.objects.count() == 0
    assert session_creates(standin) == []


def error_of(response) -> dict:
    return response.json()["error"]


def field_codes(response) -> dict[str, list[str]]:
    return {name: [e["code"] for e in errs] for name, errs in error_of(response)["fields"].items()}


# --- package ------------------------------------------------------------------


def test_unknown_package_is_not_found(tenant_api, catalog, stripe_standin, unscoped):
    response = tenant_api.post("/api/v1/checkout", checkout_body(package="nope"), format="json")

    assert response.status_code == 404
    assert error_of(response)["code"] == "package_not_found"
    assert_nothing_written(stripe_standin)


def test_inactive_package_is_not_found(tenant_api, catalog, stripe_standin, unscoped):
    catalog.package.active = False
    catalog.package.save()

    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    assert response.status_code == 404
    assert error_of(response)["code"] == "package_not_found"
    assert_nothing_written(stripe_standin)


def test_other_tenants_package_is_not_found(
    tenant_api, catalog, other_tenant, stripe_standin, unscoped
):
    PackageFactory(tenant=other_tenant, slug="castle", price_cents=900_000)

    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(package="castle", add_ons=[]), format="json"
    )

    assert response.status_code == 404
    assert error_of(response)["code"] == "package_not_found"
    assert_nothing_written(stripe_standin)


# --- add-ons --------------------------------------------------------------------


def test_unknown_add_on_is_not_allowed(tenant_api, catalog, stripe_standin, unscoped):
    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(add_ons=["flowers", "unicorn"]), format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "add_on_not_allowed"
    assert field_codes(response) == {"add_ons": ["add_on_not_allowed"]}
    assert_nothing_written(stripe_standin)


def test_inactive_add_on_is_not_allowed(tenant_api, catalog, stripe_standin, unscoped):
    catalog.flowers.active = False
    catalog.flowers.save()

    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(add_ons=["flowers"]), format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "add_on_not_allowed"
    assert_nothing_written(stripe_standin)


def test_add_on_not_offered_with_the_package_is_not_allowed(
    tenant_api, catalog, stripe_standin, unscoped
):
    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(add_ons=["string-quartet"]), format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "add_on_not_allowed"
    assert_nothing_written(stripe_standin)


def test_add_on_offered_with_another_package_only_is_not_allowed(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    other_package = PackageFactory(tenant=tenant, slug="grand")
    PackageAddOnFactory(tenant=tenant, package=other_package, add_on=catalog.not_offered)

    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(add_ons=["string-quartet"]), format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "add_on_not_allowed"
    assert_nothing_written(stripe_standin)


def test_other_tenants_add_on_is_not_allowed(
    tenant_api, catalog, other_tenant, stripe_standin, unscoped
):
    AddOnFactory(tenant=other_tenant, slug="champagne", price_cents=1)

    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(add_ons=["champagne"]), format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "add_on_not_allowed"
    assert_nothing_written(stripe_standin)


def test_duplicate_add_on_is_a_validation_error(tenant_api, catalog, stripe_standin, unscoped):
    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(add_ons=["flowers", "flowers"]), format="json"
    )

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"
    assert field_codes(response) == {"add_ons": ["duplicate"]}
    assert_nothing_written(stripe_standin)


# --- the date ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [(Booking.Status.CONFIRMED, "booked"), (Booking.Status.HELD, "held")],
)
def test_occupied_date_is_unavailable(
    tenant_api, tenant, catalog, stripe_standin, unscoped, status, reason
):
    existing = BookingFactory(tenant=tenant, event_date=days_ahead(90), status=status)

    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    assert response.status_code == 409
    assert error_of(response)["code"] == "date_unavailable"
    assert field_codes(response) == {"event_date": [reason]}
    assert_nothing_written(stripe_standin, bookings=1)
    existing.refresh_from_db()
    assert existing.status == status


def test_blackout_date_is_unavailable(tenant_api, tenant, catalog, stripe_standin, unscoped):
    BlackoutDateFactory(tenant=tenant, date=days_ahead(90))

    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    assert response.status_code == 409
    assert error_of(response)["code"] == "date_unavailable"
    assert field_codes(response) == {"event_date": ["blackout"]}
    assert_nothing_written(stripe_standin)


@pytest.mark.parametrize(
    ("days", "reason"),
    [(-1, "past"), (-400, "past"), (0, "too_soon"), (9, "too_soon"), (101, "too_far")],
)
def test_dates_outside_the_booking_window_are_unavailable(
    tenant_api, tenant, catalog, stripe_standin, unscoped, days, reason
):
    tenant.min_notice_days = 10
    tenant.max_advance_days = 100
    tenant.save()

    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(event_date=days_ahead(days).isoformat()), format="json"
    )

    assert response.status_code == 409
    assert error_of(response)["code"] == "date_unavailable"
    assert field_codes(response) == {"event_date": [reason]}
    assert_nothing_written(stripe_standin)


def test_other_tenants_booking_does_not_block_the_date(
    tenant_api, tenant, catalog, other_tenant, stripe_standin, unscoped
):
    BookingFactory(tenant=other_tenant, event_date=days_ahead(90))
    BlackoutDateFactory(tenant=other_tenant, date=days_ahead(90))

    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    assert response.status_code == 201
    assert Booking.objects.filter(tenant=tenant).count() == 1


# --- the body -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "fields"),
    [
        ({"package": None}, {"package": ["null"]}),
        ({"email": "not-an-email"}, {"email": ["invalid"]}),
        ({"email": ""}, {"email": ["blank"]}),
        ({"couple_name": ""}, {"couple_name": ["blank"]}),
        ({"couple_name": "x" * 201}, {"couple_name": ["max_length"]}),
        ({"add_ons": "flowers"}, {"add_ons": ["not_a_list"]}),
        ({"add_ons": ["flowers", "no spaces"]}, {"add_ons.1": ["invalid"]}),
        ({"event_date": 20260701}, {"event_date": ["invalid"]}),
        ({"event_date": "2026-13-01"}, {"event_date": ["invalid"]}),
        ({"event_date": "next saturday"}, {"event_date": ["invalid"]}),
        ({"phone": "1" * 41}, {"phone": ["max_length"]}),
        ({"package": "no spaces allowed"}, {"package": ["invalid"]}),
    ],
)
def test_invalid_fields_are_validation_errors(
    tenant_api, catalog, stripe_standin, unscoped, overrides, fields
):
    response = tenant_api.post("/api/v1/checkout", checkout_body(**overrides), format="json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"
    assert field_codes(response) == fields
    assert_nothing_written(stripe_standin)


@pytest.mark.parametrize("missing", ["package", "event_date", "couple_name", "email"])
def test_missing_required_field_is_a_validation_error(
    tenant_api, catalog, stripe_standin, unscoped, missing
):
    body = checkout_body()
    del body[missing]

    response = tenant_api.post("/api/v1/checkout", body, format="json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"
    assert field_codes(response) == {missing: ["required"]}
    assert_nothing_written(stripe_standin)


def test_empty_body_names_every_required_field(tenant_api, catalog, stripe_standin, unscoped):
    response = tenant_api.post("/api/v1/checkout", {}, format="json")

    assert response.status_code == 400
    assert field_codes(response) == {
        "package": ["required"],
        "event_date": ["required"],
        "couple_name": ["required"],
        "email": ["required"],
    }
    assert_nothing_written(stripe_standin)


def test_optional_fields_may_be_left_out(tenant_api, catalog, stripe_standin, unscoped):
    body = checkout_body()
    for optional in ("add_ons", "phone", "notes"):
        del body[optional]

    response = tenant_api.post("/api/v1/checkout", body, format="json")

    assert response.status_code == 201
    assert response.json()["booking"]["add_ons"] == []
    assert response.json()["booking"]["amount_cents"] == 150_000


def test_couple_name_of_exactly_200_characters_is_accepted(
    tenant_api, catalog, stripe_standin, unscoped
):
    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(couple_name="é" * 200), format="json"
    )

    assert response.status_code == 201
    assert Booking.objects.get().couple_name == "é" * 200


def test_malformed_json_is_a_validation_error(tenant_api, catalog, stripe_standin, unscoped):
    response = tenant_api.post("/api/v1/checkout", data="{bad", content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"
    assert field_codes(response) == {"body": ["parse_error"]}
    assert_nothing_written(stripe_standin)


def test_json_array_body_is_a_validation_error(tenant_api, catalog, stripe_standin, unscoped):
    response = tenant_api.post("/api/v1/checkout", data="[]", content_type="application/json")

    assert response.status_code == 400
    assert error_of(response)["code"] == "validation_error"
    assert_nothing_written(stripe_standin)


def test_refusal_with_an_idempotency_key_writes_nothing_either(
    tenant_api, catalog, stripe_standin, unscoped
):
    from bookings.models import IdempotencyRecord

    response = tenant_api.post(
        "/api/v1/checkout",
        checkout_body(package="nope"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="refused-1",
    )

    assert response.status_code == 404
    assert_nothing_written(stripe_standin)
    assert IdempotencyRecord.objects.count() == 0


# --- STRIPE_API_BASE: checkout must reach the real Stripe in production ---
# (settings refuse to start otherwise: tests/config/test_settings.py)


@pytest.mark.parametrize(
    "base",
    [
        "http://127.0.0.1:12111",
        "http://api.stripe.com",
        "https://api.stripe.com.evil.example",
        "https://stripe.com",
        "https://api.stripe.com:8443",
        "https://user@api.stripe.com",
        "https://api.stripe.com/proxy",
    ],
)
def test_a_base_other_than_stripes_api_is_refused(base):
    from config.stripe_base import stripe_api_base_refusal

    assert stripe_api_base_refusal(base) == (
        f"STRIPE_API_BASE is {base!r}; with DJANGO_DEBUG off it must be https://api.stripe.com "
        "(unset it; local runs with the stand-in set DJANGO_DEBUG=true)."
    )


@pytest.mark.parametrize("base", ["https://api.stripe.com", "https://api.stripe.com/"])
def test_stripes_api_base_passes(base):
    from config.stripe_base import stripe_api_base_refusal

    assert stripe_api_base_refusal(base) is None
