"""The embeddable widget: its script, the key → booking page redirect, who
may frame the pages, and the snippet in the admin."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tenants.models import ApiKey
from tenants.services import api_key_issue
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db


def test_widget_script_is_served_to_any_site(client):
    response = client.get("/book/widget.js")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert b'"/book/k/" + encodeURIComponent(script.dataset.key)' in response.content


def test_publishable_key_opens_the_businesss_page_in_embed_mode(client, tenant, tenant_key):
    response = client.get(f"/book/k/{tenant_key}/?lang=es")

    assert response.status_code == 302
    assert response["Location"] == f"/book/{tenant.slug}/?embed=1&lang=es"


def test_unknown_revoked_secret_or_inactive_keys_open_nothing(client, tenant, unscoped):
    revoked = api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE)
    ApiKey.objects.filter(pk=revoked.api_key.pk).update(revoked_at=timezone.now())
    secret = api_key_issue(tenant=tenant, kind=ApiKey.Kind.SECRET).key
    closed = TenantFactory(active=False)
    closed_key = api_key_issue(tenant=closed, kind=ApiKey.Kind.PUBLISHABLE).key

    for key in ("pk_live_nope", revoked.key, secret, closed_key):
        assert client.get(f"/book/k/{key}/").status_code == 404


def directive(response, name: str) -> str:
    """One directive's value from the response's Content-Security-Policy."""
    for part in response["Content-Security-Policy"].split(";"):
        key, _, value = part.strip().partition(" ")
        if key == name:
            return value
    raise AssertionError(f"no {name} in {response['Content-Security-Policy']}")


def test_only_the_businesss_own_sites_may_frame_its_pages(client, tenant, other_tenant, unscoped):
    tenant.cors_origins = ["https://juniper.example", "http://127.0.0.1:8123"]
    tenant.save()

    mine = client.get(f"/book/{tenant.slug}/?embed=1")
    theirs = client.get(f"/book/{other_tenant.slug}/?embed=1")
    admin = client.get("/admin/login/")

    assert directive(mine, "frame-ancestors") == "https://juniper.example http://127.0.0.1:8123"
    assert "X-Frame-Options" not in mine.headers
    assert directive(theirs, "frame-ancestors") == "'none'"
    assert admin["X-Frame-Options"] == "DENY"
    assert '<body class="embed">' in mine.content.decode()


def test_admin_shows_the_booking_page_and_the_snippet_to_copy(
    owner_client, tenant, tenant_key, settings
):
    settings.PUBLIC_BASE_URL = "https://altar.example"

    html = owner_client.get(f"/admin/tenants/tenant/{tenant.pk}/change/").content.decode()

    assert f'<a href="https://altar.example/book/{tenant.slug}/">' in html
    assert (
        '<pre id="widget-snippet">&lt;script src=&quot;https://altar.example/book/widget.js'
        f"&quot; data-key=&quot;{tenant_key}&quot; async&gt;&lt;/script&gt;</pre>"
    ) in html
