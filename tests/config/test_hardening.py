"""Admin brute-force lockout, request size limits, security headers."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

PASSWORD = "pw-Altar-2026"  # tests.factories.UserFactory's


def admin_login(client: Client, username: str, password: str, ip: str = "10.0.0.1"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


def test_admin_login_locks_out_after_five_failures(tenant, settings):
    user = MembershipFactory(tenant=tenant).user
    client = Client()

    failures = [admin_login(client, user.username, "wrong").status_code for _ in range(5)]
    locked = admin_login(client, user.username, PASSWORD)
    elsewhere = admin_login(Client(), user.username, PASSWORD, ip="10.0.0.2")

    # The form again with an error, four times; the fifth failure locks out.
    assert failures == [200, 200, 200, 200, 429]
    assert locked.status_code == 429  # even with the right password
    assert "_auth_user_id" not in client.session
    assert elsewhere.status_code == 302  # the lockout is per username and address


def test_a_success_before_the_limit_resets_the_count(tenant):
    user = MembershipFactory(tenant=tenant).user
    client = Client()

    for _ in range(4):
        admin_login(client, user.username, "wrong")
    assert admin_login(client, user.username, PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        admin_login(client, user.username, "wrong")

    assert admin_login(client, user.username, PASSWORD).status_code == 302


def test_oversized_api_body_is_413_in_the_error_shape(tenant_api):
    response = tenant_api.post(
        "/api/v1/checkout",
        data='{"notes": "' + "x" * 1_100_000 + '"}',
        content_type="application/json",
    )

    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"


def test_security_headers_on_every_response(client):
    response = client.get("/healthz", secure=True)

    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert response["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains; preload"
