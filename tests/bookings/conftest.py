"""A small catalog to book from: one package offering two add-ons, plus one
add-on it does not offer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from django.utils import timezone

from bookings.models import Booking
from catalog.models import AddOn, Package
from tests.factories import AddOnFactory, PackageAddOnFactory, PackageFactory


@dataclass
class Catalog:
    package: Package
    flowers: AddOn
    photos: AddOn
    not_offered: AddOn


def make_catalog(tenant) -> Catalog:
    package = PackageFactory(
        tenant=tenant, slug="elopement", title="Elopement", price_cents=150_000
    )
    flowers = AddOnFactory(tenant=tenant, slug="flowers", title="Flowers", price_cents=12_345)
    photos = AddOnFactory(tenant=tenant, slug="photos", title="Photos", price_cents=40_000)
    not_offered = AddOnFactory(tenant=tenant, slug="string-quartet", price_cents=90_000)
    PackageAddOnFactory(tenant=tenant, package=package, add_on=flowers)
    PackageAddOnFactory(tenant=tenant, package=package, add_on=photos)
    return Catalog(package, flowers, photos, not_offered)


@pytest.fixture
def catalog(tenant) -> Catalog:
    return make_catalog(tenant)


def days_ahead(n: int) -> dt.date:
    return timezone.now().date() + dt.timedelta(days=n)


def checkout_body(**overrides) -> dict:
    body = {
        "package": "elopement",
        "add_ons": ["flowers"],
        "event_date": days_ahead(90).isoformat(),
        "couple_name": "Ada & Grace",
        "email": "ada@example.com",
        "phone": "+1 555 0100",
        "notes": "Sunset, please.",
    }
    body.update(overrides)
    return body


def pay_on_standin(standin, tenant, booking) -> str:
    """The couple pays on the stand-in's page and Stripe's event reaches the
    payment service (as the webhook handler would call it); returns its outcome."""
    from bookings.services import booking_mark_paid

    standin.pay(booking.stripe_checkout_session_id)
    session = standin.get(booking.stripe_checkout_session_id)
    return booking_mark_paid(
        tenant=tenant,
        booking_id=booking.pk,
        checkout_session_id=session["id"],
        payment_intent_id=session["payment_intent"],
        amount_paid_cents=session["amount_total"],
    )


@pytest.fixture
def paid_booking(tenant, tenant_api, catalog, stripe_standin, unscoped):
    """A booking checked out through the API and paid on the stand-in, so
    refunds are real calls to it."""
    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")
    booking = Booking.objects.get(pk=response.json()["booking"]["id"])
    pay_on_standin(stripe_standin, tenant, booking)
    booking.refresh_from_db()
    return booking


def checkout_through_service(tenant, *, days: int) -> Booking:
    """A held booking with a Checkout Session at the stand-in (for race
    tests, which run outside the API client's thread)."""
    from bookings.services import booking_checkout

    return booking_checkout(
        tenant=tenant,
        package_slug="elopement",
        add_on_slugs=[],
        event_date=days_ahead(days),
        couple_name="Ada & Grace",
        email="ada@example.com",
    ).booking
