"""seed_demo: a usable demo tenant, and a second run that changes nothing."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from rest_framework.test import APIClient

from backoffice.management.commands.seed_demo import (
    DEMO_PASSWORD,
    DEMO_PUBLISHABLE_KEY,
    DEMO_SLUG,
)
from bookings.models import BlackoutDate, Booking
from catalog.models import AddOn, Package, PackageAddOn
from tenants.keys import parse_key
from tenants.models import ApiKey, Tenant, TenantMembership

pytestmark = pytest.mark.usefixtures("unscoped")

MODELS = (Tenant, ApiKey, TenantMembership, Package, AddOn, PackageAddOn, BlackoutDate, Booking)


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out, stderr=StringIO())
    return out.getvalue()


def everything() -> dict[str, list[dict]]:
    rows = {model.__name__: list(model.objects.order_by("pk").values()) for model in MODELS}
    rows["User"] = list(get_user_model().objects.order_by("pk").values())
    return rows


def api(path: str):
    client = APIClient()
    client.credentials(HTTP_X_TENANT_KEY=DEMO_PUBLISHABLE_KEY)
    return client.get(path)


def test_demo_key_is_a_valid_publishable_key():
    assert parse_key(DEMO_PUBLISHABLE_KEY) == ("publishable", "JuniperElope")


def test_seed_demo_creates_a_usable_demo_tenant(db):
    # when
    out = seed()

    # then
    tenant = Tenant.objects.get(slug=DEMO_SLUG)
    assert (tenant.name, tenant.currency, tenant.timezone, tenant.hold_minutes) == (
        "Juniper Elopements",
        "usd",
        "America/Denver",
        30,
    )
    assert 4 <= Package.objects.filter(tenant=tenant).count() <= 6
    assert 3 <= AddOn.objects.filter(tenant=tenant).count() <= 4
    assert PackageAddOn.objects.filter(tenant=tenant).count() > 0
    assert BlackoutDate.objects.filter(tenant=tenant).count() == 3
    response = api("/api/v1/tenant")
    assert response.status_code == 200
    assert response.json()["slug"] == DEMO_SLUG
    assert response.json()["booking_window"] == {"min_notice_days": 2, "max_advance_days": 540}
    packages = api("/api/v1/packages")
    assert packages.status_code == 200
    assert packages.json()["count"] == Package.objects.filter(tenant=tenant).count()
    # the fixed key is the only publishable key that works
    publishable = ApiKey.objects.filter(tenant=tenant, kind="publishable", revoked_at=None)
    assert list(publishable.values_list("publishable_key", flat=True)) == [DEMO_PUBLISHABLE_KEY]
    User = get_user_model()
    demo = User.objects.get(email="demo@altar.localhost")
    assert demo.is_staff and not demo.is_superuser and demo.check_password(DEMO_PASSWORD)
    assert TenantMembership.objects.get(user=demo).role == "owner"
    ops = User.objects.get(email="ops@altar.localhost")
    assert ops.is_superuser and ops.check_password(DEMO_PASSWORD)
    assert "http://127.0.0.1:8000/admin/" in out
    assert f'curl -H "X-Tenant-Key: {DEMO_PUBLISHABLE_KEY}"' in out
    assert DEMO_PASSWORD in out


def test_seed_demo_twice_changes_nothing(db):
    # given
    seed()
    before = everything()

    # when
    out = seed()

    # then: same rows, same values (catalog_version and password hashes included)
    assert everything() == before
    assert "already there" in out
    response = api("/api/v1/tenant")
    assert response.status_code == 200


def test_seed_demo_restores_a_changed_demo_without_duplicates(db):
    # given a demo whose owner lost the password and a package was edited
    seed()
    tenant = Tenant.objects.get(slug=DEMO_SLUG)
    Package.objects.filter(tenant=tenant, slug="sunrise-summit").update(price_cents=1)
    demo = get_user_model().objects.get(email="demo@altar.localhost")
    demo.set_password("forgotten-2026")
    demo.save()
    counts = {model.__name__: model.objects.count() for model in MODELS}

    # when
    seed()

    # then
    assert Package.objects.get(tenant=tenant, slug="sunrise-summit").price_cents == 180_000
    demo.refresh_from_db()
    assert demo.check_password(DEMO_PASSWORD)
    assert {model.__name__: model.objects.count() for model in MODELS} == counts


@pytest.mark.django_db
def test_demo_has_two_confirmed_weddings_and_one_hold():
    seed()
    seed()

    statuses = sorted(Booking.objects.values_list("status", flat=True))
    assert statuses == ["confirmed", "confirmed", "held"]
