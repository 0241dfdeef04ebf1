"""Webhooks arrive over the real endpoint with real signatures: the stand-in
signs each event as Stripe does and hands the request to Django's test
client (in-process HTTP), so dj-stripe's signature check and our view run
exactly as in production."""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import Client

from tests.bookings.conftest import catalog, checkout_body  # noqa: F401 - shared fixture
from tools.stripe_standin import sign_payload

PLATFORM_SECRET = "whsec_platformTestSecret0000000000"
CONNECT_SECRET = "whsec_connectTestSecret00000000000"


def record_endpoint(secret: str, *, connect: bool = False) -> str:
    out = StringIO()
    args = ["stripe_webhook_endpoint", "--secret", secret, "--json"]
    if connect:
        args.append("--connect")
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())["path"]


@dataclass
class Webhooks:
    path: str
    connect_path: str

    def post(
        self,
        event: dict,
        *,
        secret: str = PLATFORM_SECRET,
        path: str | None = None,
        signature: str | None = None,
        client: Client | None = None,
    ):
        """One signed delivery of `event` (a fresh client per call: threads
        must not share one)."""
        payload = json.dumps(event).encode()
        headers = {}
        if signature != "":
            headers["HTTP_STRIPE_SIGNATURE"] = signature or sign_payload(payload, secret)
        return (client or Client()).post(
            path or self.path, data=payload, content_type="application/json", **headers
        )


@pytest.fixture
def webhooks(db, stripe_standin, unscoped) -> Webhooks:
    """Both endpoints recorded as ops would, and the stand-in delivering to them.
    Tests assert across tenants (`unscoped`); the endpoint enters each
    event's tenant scope itself, which re-enables scoping inside."""
    hooks = Webhooks(
        path=record_endpoint(PLATFORM_SECRET),
        connect_path=record_endpoint(CONNECT_SECRET, connect=True),
    )

    def sender(url: str, payload: bytes, headers: dict[str, str]) -> int:
        return (
            Client()
            .post(
                urlsplit(url).path,
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"],
            )
            .status_code
        )

    stripe_standin.configure_webhooks(
        url="http://testserver" + hooks.path,
        secret=PLATFORM_SECRET,
        connect_url="http://testserver" + hooks.connect_path,
        connect_secret=CONNECT_SECRET,
        sender=sender,
    )
    return hooks


@pytest.fixture
def checkout(tenant_api, catalog, stripe_standin, unscoped):  # noqa: F811 - the fixture
    """Check out through the API; returns the held booking."""
    from bookings.models import Booking

    def start(**overrides) -> Booking:
        response = tenant_api.post("/api/v1/checkout", checkout_body(**overrides), format="json")
        assert response.status_code == 201, response.json()
        return Booking.objects.get(pk=response.json()["booking"]["id"])

    return start
