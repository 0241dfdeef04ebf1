"""X-Tenant-Key on every tenant endpoint (API.md §1). Add new GET endpoints
to TENANT_PATHS; each must answer 200 for the `tenant_api` client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from catalog import services
from tenants.keys import generate_key
from tenants.models import ApiKey, Tenant
from tenants.scoping import tenant_scope
from tenants.services import api_key_issue, api_key_revoke, api_key_rotate

pytestmark = pytest.mark.django_db

TENANT_PATHS = [
    "/api/v1/tenant",
    "/api/v1/packages",
    "/api/v1/packages/classic",
]


@pytest.fixture(autouse=True)
def classic(tenant):
    with tenant_scope(tenant):
        services.package_create(tenant=tenant, slug="classic", title="Classic", price_cents=1_000)


def client_with(key: str | None) -> APIClient:
    client = APIClient()
    if key is not None:
        client.credentials(HTTP_X_TENANT_KEY=key)
    return client


def assert_error(response, status: int, code: str) -> None:
    assert response.status_code == status
    body = response.json()
    assert list(body) == ["error"]
    assert body["error"]["code"] == code
    assert body["error"]["fields"] == {}


def key_row(key: str) -> ApiKey:
    prefix = key.split("_", 2)[2][:12]
    return ApiKey.objects.get(prefix=prefix)


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_valid_key_is_200(tenant_api, path):
    assert tenant_api.get(path).status_code == 200


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_no_key_is_401_tenant_key_missing(path):
    response = client_with(None).get(path)

    assert_error(response, 401, "tenant_key_missing")
    assert response.headers["WWW-Authenticate"] == 'TenantKey header="X-Tenant-Key"'


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_blank_key_is_401_tenant_key_missing(path):
    assert_error(client_with("   ").get(path), 401, "tenant_key_missing")


@pytest.mark.parametrize("path", TENANT_PATHS)
@pytest.mark.parametrize(
    "key",
    ["nonsense", "pk_live_short", "pk_test_" + "a" * 40, "pk_live_" + "a" * 39 + "!", "Bearer x"],
)
def test_malformed_key_is_401_tenant_key_invalid(path, key):
    assert_error(client_with(key).get(path), 401, "tenant_key_invalid")


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_unknown_well_formed_key_is_401_tenant_key_invalid(tenant, path):
    assert_error(client_with(generate_key("publishable")).get(path), 401, "tenant_key_invalid")


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_key_with_a_real_prefix_but_wrong_rest_is_401(tenant_key, path):
    forged = tenant_key[:-1] + ("A" if tenant_key[-1] != "A" else "B")

    assert_error(client_with(forged).get(path), 401, "tenant_key_invalid")


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_secret_key_is_not_a_tenant_key(tenant, path):
    secret = api_key_issue(tenant=tenant, kind=ApiKey.Kind.SECRET).key

    assert_error(client_with(secret).get(path), 401, "tenant_key_invalid")


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_revoked_key_is_401_at_once(tenant, tenant_key, tenant_api, unscoped, path):
    # given the key worked (and its tenant's catalog is cached)
    assert tenant_api.get(path).status_code == 200

    # when it is revoked
    api_key_revoke(tenant=tenant, api_key=key_row(tenant_key))

    # then the very next request is refused
    assert_error(tenant_api.get(path), 401, "tenant_key_invalid")


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_rotated_key_works_inside_grace_then_is_refused(
    tenant, tenant_key, tenant_api, unscoped, path
):
    # given the key is rotated with a grace period of two hours
    rotated = api_key_rotate(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE, grace_hours=2)

    # then both the old key and the new one work inside the grace period
    assert tenant_api.get(path).status_code == 200
    assert client_with(rotated.issued.key).get(path).status_code == 200
    assert key_row(tenant_key).valid_until == rotated.previous_valid_until

    # when the grace period has passed (moved into the past: no sleeping)
    ApiKey.objects.filter(pk=key_row(tenant_key).pk).update(
        valid_until=timezone.now() - timedelta(seconds=1)
    )

    # then the old key is refused and the new one still works
    assert_error(tenant_api.get(path), 401, "tenant_key_invalid")
    assert client_with(rotated.issued.key).get(path).status_code == 200


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_rotation_without_grace_refuses_the_old_key_at_once(
    tenant, tenant_key, tenant_api, unscoped, path
):
    rotated = api_key_rotate(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE)

    assert_error(tenant_api.get(path), 401, "tenant_key_invalid")
    assert client_with(rotated.issued.key).get(path).status_code == 200


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_inactive_tenant_is_403_tenant_inactive(tenant, tenant_api, path):
    # given the answer is cached while the tenant was active
    assert tenant_api.get(path).status_code == 200

    # when the tenant is deactivated
    Tenant.objects.filter(pk=tenant.pk).update(active=False)

    # then its key is refused with tenant_inactive
    assert_error(tenant_api.get(path), 403, "tenant_inactive")


@pytest.mark.parametrize("path", TENANT_PATHS)
def test_other_tenants_key_answers_for_the_other_tenant(other_tenant, other_tenant_api, path):
    # the other tenant sells no `classic`: its key cannot reach this tenant's
    response = other_tenant_api.get(path)

    if path.startswith("/api/v1/packages/"):
        assert_error(response, 404, "not_found")
    elif path == "/api/v1/packages":
        assert response.json()["count"] == 0
    else:
        assert response.json()["slug"] == other_tenant.slug


def test_last_used_at_is_stamped(tenant_key, tenant_api, unscoped):
    assert key_row(tenant_key).last_used_at is None
    before = timezone.now()

    tenant_api.get("/api/v1/packages")

    stamped = key_row(tenant_key).last_used_at
    assert before <= stamped <= timezone.now()


def test_last_used_at_is_not_rewritten_on_every_request(tenant_key, tenant_api, unscoped):
    tenant_api.get("/api/v1/packages")
    first = key_row(tenant_key).last_used_at

    tenant_api.get("/api/v1/packages")

    assert key_row(tenant_key).last_used_at == first


def test_last_used_at_is_stamped_again_after_a_while(tenant_key, tenant_api, unscoped):
    # given the key was last used two minutes ago
    old = timezone.now() - timedelta(minutes=2)
    ApiKey.objects.filter(pk=key_row(tenant_key).pk).update(last_used_at=old)

    tenant_api.get("/api/v1/packages")

    assert key_row(tenant_key).last_used_at > old


def test_refused_keys_stamp_nothing(tenant, tenant_key, unscoped):
    revoked = api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE).key
    api_key_revoke(tenant=tenant, api_key=key_row(revoked))

    client_with(revoked).get("/api/v1/packages")

    assert ApiKey.objects.filter(last_used_at__isnull=False).count() == 0
