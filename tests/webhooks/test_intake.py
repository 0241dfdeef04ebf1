"""Webhook intake hardening (issue 9, #12): only the endpoint's secret signs
(no sender-chosen secret, even in debug mode), nothing is stored before the
signature is checked and an invalid delivery leaves a capped record, and the
sender's address is the socket's per NUM_PROXIES."""

from __future__ import annotations

import json

import pytest
from django.conf import settings as django_settings
from django.test import Client
from djstripe.models import WebhookEventTrigger

from tests.conftest import PLATFORM_SECRET
from tools.stripe_standin import sign_payload
from webhooks.models import StripeEvent
from webhooks.views import INVALID_BODY_MAX_CHARS

pytestmark = pytest.mark.django_db

ATTACKER_SECRET = "whsec_chosenByTheSender000000000000"


def post_raw(path: str, payload: bytes, signature: str, **headers):
    return Client().post(
        path,
        data=payload,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=signature,
        **headers,
    )


@pytest.fixture
def held_and_paid_event(checkout, stripe_standin, webhooks):
    booking = checkout()
    stripe_standin.configure_webhooks()  # pay now, deliver in the test
    event = stripe_standin.pay(booking.stripe_checkout_session_id).event
    return booking, event


@pytest.mark.parametrize("debug", [True, False], ids=["debug", "production"])
def test_a_sender_cannot_choose_the_secret_with_the_djstripe_header(
    held_and_paid_event, webhooks, settings, debug
):
    settings.DEBUG = debug
    booking, event = held_and_paid_event
    payload = json.dumps(event).encode()

    response = post_raw(
        webhooks.path,
        payload,
        sign_payload(payload, ATTACKER_SECRET),
        HTTP_X_DJSTRIPE_WEBHOOK_SECRET=ATTACKER_SECRET,
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "signature_invalid"
    booking.refresh_from_db()
    assert booking.status == "held"
    assert StripeEvent.objects.count() == 0
    trigger = WebhookEventTrigger.objects.get()
    assert trigger.valid is False
    assert "X-Djstripe-Webhook-Secret" not in trigger.headers


def test_djstripes_own_webhook_view_is_not_mounted():
    response = Client().post("/djstripe/webhook/", data=b"{}", content_type="application/json")

    assert response.status_code == 404


def test_an_invalid_delivery_leaves_only_a_capped_record(webhooks, stripe_standin):
    junk = json.dumps({"id": "evt_junk", "type": "ping", "padding": "x" * 500_000}).encode()

    response = post_raw(
        webhooks.path,
        junk,
        "t=1,v1=" + "0" * 64,
        HTTP_COOKIE="session=secret",
        HTTP_AUTHORIZATION="Bearer something",
        HTTP_USER_AGENT="curl/8",
    )

    assert response.status_code == 400
    trigger = WebhookEventTrigger.objects.get()
    assert (trigger.valid, trigger.processed) == (False, False)
    assert len(trigger.body) == INVALID_BODY_MAX_CHARS
    assert set(trigger.headers) == {
        "Content-Type",
        "Content-Length",
        "User-Agent",
        "Stripe-Signature",
    }
    assert StripeEvent.objects.count() == 0


def test_a_valid_delivery_keeps_its_whole_body_and_only_stripes_headers(
    held_and_paid_event, webhooks
):
    booking, event = held_and_paid_event
    payload = json.dumps(event).encode()

    response = post_raw(
        webhooks.path, payload, sign_payload(payload, PLATFORM_SECRET), HTTP_COOKIE="a=b"
    )

    assert response.status_code == 200
    trigger = WebhookEventTrigger.objects.get()
    assert (trigger.valid, trigger.body) == (True, payload.decode())
    assert "Cookie" not in trigger.headers
    booking.refresh_from_db()
    assert booking.status == "confirmed"


@pytest.mark.parametrize(
    ("num_proxies", "forwarded", "expected"),
    [
        (0, "203.0.113.9", "127.0.0.1"),  # no proxy: the header is the sender's say-so
        (1, "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # what our proxy appended
        (1, "not-an-ip", "127.0.0.1"),
        (0, "not-an-ip", "127.0.0.1"),
    ],
    ids=["no-proxy", "one-proxy", "one-proxy-garbage", "no-proxy-garbage"],
)
@pytest.mark.parametrize("signed", [True, False], ids=["valid", "invalid"])
def test_the_sender_address_follows_num_proxies_and_garbage_never_crashes(
    held_and_paid_event, webhooks, settings, num_proxies, forwarded, expected, signed
):
    settings.REST_FRAMEWORK = {**django_settings.REST_FRAMEWORK, "NUM_PROXIES": num_proxies}
    _booking, event = held_and_paid_event
    payload = json.dumps(event).encode()
    secret = PLATFORM_SECRET if signed else ATTACKER_SECRET

    response = post_raw(
        webhooks.path,
        payload,
        sign_payload(payload, secret),
        HTTP_X_FORWARDED_FOR=forwarded,
        REMOTE_ADDR="127.0.0.1",
    )

    assert response.status_code == (200 if signed else 400)
    assert WebhookEventTrigger.objects.get().remote_ip == expected
