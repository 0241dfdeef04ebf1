"""CORS: each tenant's websites (and only those) may call the API from a browser."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from tenants.validators import validate_origin

pytestmark = pytest.mark.django_db

ALPHA_SITE = "https://alpha.example"
BETA_SITE = "https://beta.example"


@pytest.fixture(autouse=True)
def origins(tenant, other_tenant):
    tenant.cors_origins = [ALPHA_SITE]
    tenant.save()
    other_tenant.cors_origins = [BETA_SITE]
    other_tenant.save()


def preflight(client, origin: str, path: str = "/api/v1/packages"):
    return client.options(
        path,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="x-tenant-key",
    )


def test_preflight_from_a_listed_origin_is_allowed(client):
    response = preflight(client, ALPHA_SITE)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALPHA_SITE
    assert "x-tenant-key" in response["Access-Control-Allow-Headers"]
    assert "idempotency-key" in response["Access-Control-Allow-Headers"]


def test_preflight_from_an_unknown_origin_gets_no_cors_headers(client):
    response = preflight(client, "https://evil.example")

    assert "Access-Control-Allow-Origin" not in response


def test_request_with_the_tenants_key_from_its_own_site_is_allowed(tenant_api):
    response = tenant_api.get("/api/v1/tenant", HTTP_ORIGIN=ALPHA_SITE)

    assert response.status_code == 200
    assert response["Access-Control-Allow-Origin"] == ALPHA_SITE
    assert "x-request-id" in response["Access-Control-Expose-Headers"].lower()


def test_a_key_used_from_another_tenants_site_gets_no_cors_headers(tenant_api):
    response = tenant_api.get("/api/v1/tenant", HTTP_ORIGIN=BETA_SITE)

    assert "Access-Control-Allow-Origin" not in response


def test_inactive_tenants_origins_are_not_allowed(client, tenant):
    tenant.active = False
    tenant.save()

    assert "Access-Control-Allow-Origin" not in preflight(client, ALPHA_SITE)


def test_cors_applies_to_the_api_only(client):
    response = preflight(client, ALPHA_SITE, path="/admin/login/")

    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize(
    "origin",
    ["https://alpha.example/", "alpha.example", "https://alpha.example/path", "ftp://x.example"],
)
def test_origins_are_validated(origin):
    with pytest.raises(ValidationError):
        validate_origin(origin)


def test_the_cors_check_does_not_look_the_key_up_a_second_time(
    tenant_api, django_assert_num_queries
):
    tenant_api.get("/api/v1/tenant")  # first use stamps last_used_at
    with django_assert_num_queries(1):  # the key lookup, once
        plain = tenant_api.get("/api/v1/tenant")
    with django_assert_num_queries(1):
        cross_origin = tenant_api.get("/api/v1/tenant", HTTP_ORIGIN=ALPHA_SITE)

    assert (plain.status_code, cross_origin.status_code) == (200, 200)
    assert cross_origin["Access-Control-Allow-Origin"] == ALPHA_SITE
