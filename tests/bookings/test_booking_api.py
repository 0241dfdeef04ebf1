"""GET /api/v1/bookings/{id}: the public Booking view, tenant isolation, and
the tenant-key matrix of every booking endpoint."""

from __future__ import annotations

import datetime as dt

import pytest

from bookings.models import Booking
from tests.factories import (
    BookingAddOnFactory,
    BookingFactory,
    PackageFactory,
    checkout_body,
    days_ahead,
)

pytestmark = pytest.mark.django_db

HOLD_ENDS = dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
CONFIRMED = dt.datetime(2029, 12, 31, 23, 59, 58, tzinfo=dt.UTC)


def test_booking_has_exactly_the_public_shape(tenant_api, tenant, unscoped):
    package = PackageFactory(tenant=tenant, slug="garden", title="Garden party", price_cents=100)
    booking = BookingFactory(
        tenant=tenant,
        package=package,
        event_date=dt.date(2030, 6, 1),
        status=Booking.Status.CONFIRMED,
        couple_name="Zoë & Ana",
        email="zoe@example.com",
        phone="+1 555 0199",
        notes="Allergic to lilies",
        amount_cents=100 + 250 + 999,
        hold_expires_at=HOLD_ENDS,
        confirmed_at=CONFIRMED,
    )
    BookingAddOnFactory(tenant=tenant, booking=booking, slug="cake", title="Cake", price_cents=250)
    BookingAddOnFactory(tenant=tenant, booking=booking, slug="band", title="Band", price_cents=999)

    response = tenant_api.get(f"/api/v1/bookings/{booking.pk}")

    assert response.status_code == 200
    assert response.json() == {
        "id": str(booking.pk),
        "status": "confirmed",
        "event_date": "2030-06-01",
        "package": {"slug": "garden", "title": "Garden party"},
        "add_ons": [
            {"slug": "cake", "title": "Cake", "price_cents": 250},
            {"slug": "band", "title": "Band", "price_cents": 999},
        ],
        "couple_name": "Zoë & Ana",
        "amount_cents": 1349,
        "currency": "usd",
        "hold_expires_at": "2030-01-02T03:04:05Z",
        "confirmed_at": "2029-12-31T23:59:58Z",
        "paid_cents": 1349,
        "refunded_cents": 0,
        "balance_due_cents": 0,
        "balance_due_on": None,
        "payment_plan": {
            "kind": "full",
            "deposit_percent": None,
            "deposit_cents": None,
            "deposit_refundable": None,
            "balance_days_before": None,
        },
        "terms": None,
    }
    text = response.content.decode()
    for private in ("zoe@example.com", "555 0199", "lilies", "email", "phone", "notes"):
        assert private not in text


def test_held_booking_from_checkout_reads_back_the_same(
    tenant_api, catalog, stripe_standin, unscoped
):
    created = tenant_api.post("/api/v1/checkout", checkout_body(), format="json").json()

    response = tenant_api.get(f"/api/v1/bookings/{created['booking']['id']}")

    assert response.status_code == 200
    assert response.json() == created["booking"]
    assert response.json()["status"] == "held"
    assert response.json()["confirmed_at"] is None


def test_lapsed_hold_reads_as_expired_before_expire_holds_runs(tenant_api, tenant, unscoped):
    booking = BookingFactory(
        tenant=tenant,
        status=Booking.Status.HELD,
        hold_expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1),
    )

    response = tenant_api.get(f"/api/v1/bookings/{booking.pk}")

    assert response.json()["status"] == "expired"
    booking.refresh_from_db()
    assert booking.status == Booking.Status.HELD  # a read writes nothing


@pytest.mark.parametrize("status", ["held", "confirmed", "expired", "canceled"])
def test_status_is_served_as_stored_otherwise(tenant_api, tenant, status):
    booking = BookingFactory(tenant=tenant, status=status)

    response = tenant_api.get(f"/api/v1/bookings/{booking.pk}")

    assert response.json()["status"] == status


def test_other_tenants_booking_is_not_found(tenant_api, other_tenant_api, other_tenant):
    booking = BookingFactory(tenant=other_tenant)

    response = tenant_api.get(f"/api/v1/bookings/{booking.pk}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert other_tenant_api.get(f"/api/v1/bookings/{booking.pk}").status_code == 200


# Fixed ids: xdist workers must collect the same parameters.
@pytest.mark.parametrize(
    "booking_id",
    [
        "3f0c6a52-6a7e-4f0e-9b8a-2d1c5e7f9a10",
        "not-a-uuid",
        "12345",
        "%20",
        "3f0c6a52-6a7e-4f0e-9b8a-2d1c5e7f9a1",
    ],
)
def test_unknown_or_malformed_id_is_not_found(tenant_api, tenant, booking_id):
    response = tenant_api.get(f"/api/v1/bookings/{booking_id}")

    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": "No such booking.",
        "fields": {},
    }


# --- X-Tenant-Key on every booking endpoint ------------------------------------------

ENDPOINTS = [
    ("get", "/api/v1/availability?start=2030-01-01&end=2030-01-31"),
    ("get", "/api/v1/availability/2030-01-01"),
    ("post", "/api/v1/checkout"),
    ("get", "/api/v1/bookings/{booking_id}"),
]


def _call(client, method: str, path: str, booking_id):
    path = path.format(booking_id=booking_id)
    if method == "post":
        return client.post(path, checkout_body(), format="json")
    return client.get(path)


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_no_key_is_refused(api_client, tenant, catalog, stripe_standin, unscoped, method, path):
    booking = BookingFactory(tenant=tenant)

    response = _call(api_client, method, path, booking.pk)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "tenant_key_missing"
    assert Booking.objects.count() == 1
    assert stripe_standin.requests == []


@pytest.mark.parametrize(
    "key", ["pk_live_nope", "garbage", "sk_test_000000000000000000000000"], ids=str
)
@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_bad_key_is_refused(
    api_client, tenant, catalog, stripe_standin, unscoped, method, path, key
):
    booking = BookingFactory(tenant=tenant)
    api_client.credentials(HTTP_X_TENANT_KEY=key)

    response = _call(api_client, method, path, booking.pk)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "tenant_key_invalid"
    assert Booking.objects.count() == 1
    assert stripe_standin.requests == []


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
def test_tampered_valid_looking_key_is_refused(
    api_client, tenant, tenant_key, catalog, stripe_standin, unscoped, method, path
):
    booking = BookingFactory(tenant=tenant)
    last = tenant_key[-1]
    api_client.credentials(HTTP_X_TENANT_KEY=tenant_key[:-1] + ("A" if last != "A" else "B"))

    response = _call(api_client, method, path, booking.pk)

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "tenant_key_invalid"
    assert Booking.objects.count() == 1


def test_inactive_tenant_is_refused(tenant_api, tenant, unscoped):
    booking = BookingFactory(tenant=tenant, event_date=days_ahead(90))
    tenant.active = False
    tenant.save()

    response = tenant_api.get(f"/api/v1/bookings/{booking.pk}")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_inactive"
