"""The conformance check (tools.stripe_conformance) reports exactly what is
wrong, judged by the pinned stripe library's own types."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import stripe

from tools import stripe_conformance
from tools.stripe_standin import StripeStandin

API_KEY = "sk_test_conformanceCheck000000000000"


@pytest.fixture
def standin():
    s = StripeStandin(api_key=API_KEY, auto_deliver=False)
    s.start()
    yield s
    s.stop()


@pytest.fixture
def client(standin) -> stripe.StripeClient:
    return stripe.StripeClient(
        API_KEY, base_addresses={"api": standin.base_url}, max_network_retries=0
    )


def session_params(**overrides) -> dict:
    params = {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 150000,
                    "product_data": {"name": "Sunrise elopement"},
                },
                "quantity": 1,
            }
        ],
        "expires_at": int(time.time()) + 45 * 60,
        "success_url": "https://altar.example/ok",
        "cancel_url": "https://altar.example/cancelled",
        "metadata": {"booking_id": "42"},
    }
    params.update(overrides)
    return params


def post(standin, path: str, data: dict) -> int:
    req = urllib.request.Request(
        standin.base_url + path,
        data=urllib.parse.urlencode(data).encode(),
        headers={"Authorization": f"Bearer {API_KEY}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def test_library_maps_are_built_from_the_library():
    create = stripe_conformance.endpoint_for("POST", "/v1/checkout/sessions")
    listing = stripe_conformance.endpoint_for("GET", "/v1/refunds")
    expire = stripe_conformance.endpoint_for("POST", "/v1/checkout/sessions/cs_1/expire")
    assert (create.params_class, listing.params_class, expire.params_class) == (
        "SessionCreateParams",
        "RefundListParams",
        "SessionExpireParams",
    )
    assert stripe_conformance.object_class("refund") is stripe.Refund
    assert stripe_conformance.PINNED_API_VERSION == "2026-08-26.dahlia"


def test_conforming_traffic_has_no_findings(standin, client):
    session = client.v1.checkout.sessions.create(params=session_params())
    pi_id = standin.pay(session.id).event["data"]["object"]["payment_intent"]
    client.v1.refunds.create(params={"payment_intent": pi_id, "metadata": {"k": "v"}})
    client.v1.refunds.list(params={"payment_intent": pi_id, "limit": 5})
    standin.open_dispute(pi_id)
    assert stripe_conformance.audit(standin) == []


def test_a_wrong_request_field_is_reported_exactly(standin):
    post(
        standin,
        "/v1/refunds",
        {"payment_intent": "pi_1", "refund_reason": "duplicate", "amount": "ten"},
    )
    assert sorted(stripe_conformance.check_requests(standin.exchanges)) == [
        "POST /v1/refunds: amount='ten' is not an integer",
        "POST /v1/refunds: unknown param refund_reason (RefundCreateParams)",
    ]


def test_a_wrong_enum_value_in_a_request_is_reported(standin):
    post(standin, "/v1/refunds", {"payment_intent": "pi_1", "reason": "changed_mind"})
    (finding,) = stripe_conformance.check_requests(standin.exchanges)
    assert finding.startswith("POST /v1/refunds: reason='changed_mind' is not ")


def test_a_wrong_field_in_a_returned_object_is_reported_exactly(standin, client):
    session = client.v1.checkout.sessions.create(params=session_params())
    with standin._lock:
        standin._objects[session.id]["ui_mode"] = "hosted"  # the pre-dahlia value
        standin._objects[session.id]["surprise"] = 1
        standin._objects[session.id]["livemode"] = None
    client.v1.checkout.sessions.retrieve(session.id)

    answer = f"answer to GET /v1/checkout/sessions/{session.id}"
    assert sorted(stripe_conformance.check_answers(standin.exchanges, standin.events)) == [
        f"{answer}: livemode is null; the library's type bool is not Optional",
        f"{answer}: surprise: not a field of Session in stripe {stripe.VERSION}",
        f"{answer}: ui_mode='hosted' is not one of "
        "['elements', 'embedded_page', 'form', 'hosted_page']",
    ]


def test_charge_refunds_in_an_event_is_reported(standin, client):
    session = client.v1.checkout.sessions.create(params=session_params())
    charge_id = standin.get(standin.pay(session.id).event["data"]["object"]["payment_intent"])[
        "latest_charge"
    ]
    charge = standin.get(charge_id)
    charge["refunds"] = {"object": "list", "data": [], "has_more": False, "url": "/v1/x"}
    event = standin.build_event("charge.refunded", charge)

    assert stripe_conformance.check_event(event) == [
        f"event charge.refunded {event['id']}: data.object.refunds: charge.refunds is only "
        "sent when expanded (and never in webhooks)"
    ]


def test_error_answers_are_checked_against_the_error_object():
    from tools.stripe_conformance import _check_error

    assert _check_error({"error": {"type": "api_error", "message": "x"}}, "w") == []
    assert _check_error({"error": {"type": "api_error", "reason": "x"}}, "w") == [
        f"w: error.reason: not a field of ErrorObject in stripe {stripe.VERSION}"
    ]


def test_wrong_stripe_version_header_is_reported():
    findings = stripe_conformance.check_request(
        "GET", "/v1/charges/ch_1", {}, {"Stripe-Version": "2024-04-10"}
    )
    assert findings == [
        "GET /v1/charges/ch_1: header Stripe-Version='2024-04-10', pinned is '2026-08-26.dahlia'"
    ]


def test_endpoint_unknown_to_the_library_is_reported():
    assert stripe_conformance.check_request("POST", "/v1/refunds/re_1/settle", {}) == [
        f"POST /v1/refunds/re_1/settle: no such endpoint in stripe {stripe.VERSION}"
    ]


def test_events_are_json_as_delivered(standin, client):
    # What is checked is what is sent: the JSON round trip changes nothing.
    session = client.v1.checkout.sessions.create(params=session_params())
    event = standin.pay(session.id).event
    assert json.loads(json.dumps(event)) == event
    assert stripe_conformance.check_event(event) == []


@pytest.mark.parametrize(
    "card,outcome",
    [
        ("4242424242424242", "succeeded"),
        ("4000000000000341", "card_declined"),
        ("4000002760003184", "authentication_required"),
    ],
)
def test_saved_cards_charged_off_session_conform_and_behave_like_the_test_cards(
    standin, client, card, outcome
):
    # A card saved by a Checkout payment (setup_future_usage) on a Customer.
    customer = client.v1.customers.create(params={"email": "a@example.com"})
    session = client.v1.checkout.sessions.create(
        params=session_params(
            customer=customer.id, payment_intent_data={"setup_future_usage": "off_session"}
        )
    )
    deposit = standin.pay(session.id, card=card).event["data"]["object"]["payment_intent"]
    saved = client.v1.payment_intents.retrieve(deposit, params={"expand": ["payment_method"]})
    assert saved.payment_method.customer == customer.id
    assert saved.payment_method.card.last4 == card[-4:]

    params = {
        "amount": 126_000,
        "currency": "usd",
        "customer": customer.id,
        "payment_method": saved.payment_method.id,
        "off_session": True,
        "confirm": True,
        "metadata": {"altar_payment": "7"},
    }
    options = {"idempotency_key": "altar-balance-7-attempt-1"}
    if outcome == "succeeded":
        intent = client.v1.payment_intents.create(params, options)
        assert intent.status == "succeeded"
    else:
        with pytest.raises(stripe.CardError) as raised:
            client.v1.payment_intents.create(params, options)
        assert raised.value.code == outcome
        intent = raised.value.error.payment_intent
        assert intent.status == "requires_payment_method"
        assert intent.last_payment_error.code == outcome
        # The 402 is kept under the key: a retry replays it, charging nothing new.
        with pytest.raises(stripe.CardError):
            client.v1.payment_intents.create(params, options)
    listed = client.v1.payment_intents.list(params={"customer": customer.id, "limit": 10})
    off_session = [pi for pi in listed.data if pi.metadata.get("altar_payment") == "7"]
    assert [pi.id for pi in off_session] == [intent.id]
    kinds = [event["type"] for event in standin.events if event["type"].startswith("payment_int")]
    expected = (
        "payment_intent.succeeded" if outcome == "succeeded" else "payment_intent.payment_failed"
    )
    assert kinds == [expected]
    assert stripe_conformance.audit(standin) == []
