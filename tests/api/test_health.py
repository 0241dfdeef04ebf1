"""Probes and the API documentation: no tenant key needed (API.md §1)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db


def test_healthz_is_ok(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_touches_no_database(client, django_assert_num_queries):
    with django_assert_num_queries(0):
        assert client.get("/healthz").status_code == 200


def test_readyz_checks_the_database(client):
    response = client.get("/readyz")

    assert response.status_code == 200
    body = response.json()
    # Other checks (migrations, cache, ...) may be listed too.
    assert (body["status"], body["checks"]["database"]) == ("ok", "ok")
    assert set(body["checks"].values()) == {"ok"}


def test_schema_documents_the_tenant_endpoints(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    for path in ("/api/v1/tenant", "/api/v1/packages", "/api/v1/packages/{slug}"):
        assert "get" in schema["paths"][path]
        assert {"TenantKey": []} in schema["paths"][path]["get"]["security"]
    assert schema["components"]["securitySchemes"]["TenantKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-Tenant-Key",
    }
    listing = schema["paths"]["/api/v1/packages"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"page", "page_size"}
    page = schema["components"]["schemas"]["PackagePageOutput"]
    assert set(page["properties"]) == {"count", "next", "previous", "results"}
    package = schema["components"]["schemas"]["PackageOutput"]
    assert set(package["properties"]) == {
        "slug",
        "title",
        "description",
        "price_cents",
        "currency",
        "photos",
        "add_ons",
        "payment_plan",
    }


def test_docs_page_needs_no_key(client):
    response = client.get("/api/docs/")

    assert response.status_code == 200
    assert b"swagger" in response.content.lower()
