"""The Stripe stand-in, driven by the official ``stripe`` library.

The client code under test is the real library (request encoding, error
mapping, retries, signature verification), so these tests pin the stand-in to
what Stripe's own client expects. No Django, no database.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import stripe

from tools.stripe_conformance import check_answers
from tools.stripe_standin import (
    API_VERSION,
    StandinError,
    StripeStandin,
    decode_form,
    sign_payload,
)

API_KEY = "sk_test_standinTests00000000000000"
WHSEC = "whsec_platformTestSecret000000000000"
CONNECT_WHSEC = "whsec_connectTestSecret0000000000000"


# ---------------------------------------------------------------------------
# Fixtures
# ---------------------------------------------------------------------------


class Receiver:
    """A tiny webhook receiver: records every POST, answers ``status``."""

    def __init__(self):
        self.received: list[dict] = []
        self.status = 200
        self.on_request = None  # optional callable(path, body) run before answering
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                headers = dict(self.headers.items())
                if receiver.on_request is not None:
                    receiver.on_request(self.path, body)
                with receiver._lock:
                    receiver.received.append({"path": self.path, "headers": headers, "body": body})
                self.send_response(receiver.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def events(self, path: str | None = None) -> list[dict]:
        with self._lock:
            return [
                json.loads(r["body"]) for r in self.received if path is None or r["path"] == path
            ]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.stop()


@pytest.fixture
def standin(receiver):
    s = StripeStandin(api_key=API_KEY, auto_deliver=False)
    s.configure_webhooks(
        url=receiver.base + "/platform",
        secret=WHSEC,
        connect_url=receiver.base + "/connect",
        connect_secret=CONNECT_WHSEC,
    )
    s.start()
    yield s
    s.stop()
    # Whatever the test did, what the stand-in answered and delivered must be
    # what Stripe can send at the pinned version (requests are the test's own,
    # some deliberately wrong, so only the stand-in's side is checked here).
    findings = check_answers(s.exchanges, s.events)
    assert not findings, "stand-in answers not as Stripe's:\n" + "\n".join(findings)


def make_client(base: str, timeout: float = 5.0, api_key: str = API_KEY) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": base},
        max_network_retries=0,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


@pytest.fixture
def client(standin) -> stripe.StripeClient:
    return make_client(standin.base_url)


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
            },
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 2500,
                    "product_data": {"name": "Extra guest"},
                },
                "quantity": 4,
            },
        ],
        "customer_email": "ana@example.com",
        "client_reference_id": "booking-42",
        "metadata": {"booking_id": "42", "tenant": "alpha-weddings"},
        "expires_at": int(time.time()) + 45 * 60,
        "success_url": "https://altar.example/ok?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://altar.example/cancelled",
    }
    params.update(overrides)
    return params


def http(method: str, url: str, data: dict | None = None, headers: dict | None = None):
    """Raw HTTP without following redirects: (status, headers, body)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    body = urllib.parse.urlencode(data).encode() if data is not None else None
    req = urllib.request.Request(url, data=body, headers=headers or {}, method=method)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(req, timeout=5) as resp:
            return resp.status, dict(resp.headers.items()), resp.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers.items()), exc.read().decode()


# ---------------------------------------------------------------------------
# Wire format
# ---------------------------------------------------------------------------


def test_decode_form_builds_nested_dicts_and_lists():
    body = (
        "line_items[0][price_data][currency]=usd&line_items[0][quantity]=2"
        "&line_items[1][quantity]=1&metadata[0]=zero&metadata[k]=v&expand[]=a&expand[]=b&x="
    )
    assert decode_form(body) == {
        "line_items": [{"price_data": {"currency": "usd"}, "quantity": "2"}, {"quantity": "1"}],
        "metadata": {"0": "zero", "k": "v"},
        "expand": ["a", "b"],
        "x": "",
    }


def test_api_version_matches_the_pinned_library():
    assert API_VERSION == stripe.api_version


# ---------------------------------------------------------------------------
# Checkout sessions
# ---------------------------------------------------------------------------


def test_create_session_round_trips_fields(standin, client):
    acct = standin.create_account(charges_enabled=True)["id"]
    params = session_params(
        payment_intent_data={
            "application_fee_amount": 16000,
            "transfer_data": {"destination": acct},
            "metadata": {"booking_id": "42"},
        }
    )
    session = client.v1.checkout.sessions.create(params=params)

    assert session.id.startswith("cs_test_")
    assert session.object == "checkout.session"
    assert session.livemode is False
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.mode == "payment"
    assert session.amount_total == 160000
    assert session.currency == "usd"
    assert session.payment_intent is None
    assert session.metadata.to_dict() == {"booking_id": "42", "tenant": "alpha-weddings"}
    assert session.client_reference_id == "booking-42"
    assert session.customer_email == "ana@example.com"
    assert session.expires_at == params["expires_at"]
    assert session.success_url == params["success_url"]
    assert session.cancel_url == "https://altar.example/cancelled"
    assert session.url == f"{standin.base_url}/pay/{session.id}"

    (request,) = standin.requests
    method, path, sent, headers = request
    assert (method, path) == ("POST", "/v1/checkout/sessions")
    assert sent["payment_intent_data"] == {
        "application_fee_amount": "16000",
        "transfer_data": {"destination": acct},
        "metadata": {"booking_id": "42"},
    }
    assert sent["line_items"][1]["quantity"] == "4"
    assert headers["Authorization"] == f"Bearer {API_KEY}"
    assert request.stripe_account is None
    assert request.idempotency_key  # the library adds one to every POST


def test_direct_charge_session_belongs_to_the_connected_account(standin, client):
    acct = standin.create_account(charges_enabled=True)["id"]
    session = client.v1.checkout.sessions.create(
        params=session_params(payment_intent_data={"application_fee_amount": 500}),
        options={"stripe_account": acct},
    )

    assert standin.requests[-1].stripe_account == acct
    assert standin.owner_of(session.id) == acct
    again = client.v1.checkout.sessions.retrieve(session.id, options={"stripe_account": acct})
    assert again.id == session.id
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.checkout.sessions.retrieve(session.id)
    assert info.value.http_status == 404
    assert info.value.code == "resource_missing"


def test_unknown_stripe_account_is_refused(client):
    with pytest.raises(stripe.error.PermissionError) as info:
        client.v1.checkout.sessions.create(
            params=session_params(), options={"stripe_account": "acct_1Nope"}
        )
    assert info.value.http_status == 403
    assert info.value.json_body["error"]["code"] == "account_invalid"


def test_idempotent_replay_and_key_reuse(standin, client):
    params = session_params()
    first = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "k-1"})
    second = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "k-1"})

    assert second.id == first.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert [r.idempotency_key for r in standin.requests] == ["k-1", "k-1"]
    sessions = [e for e in standin.events]  # no event for a creation
    assert sessions == []

    with pytest.raises(stripe.error.IdempotencyError) as info:
        client.v1.checkout.sessions.create(
            params=session_params(client_reference_id="booking-43"),
            options={"idempotency_key": "k-1"},
        )
    assert info.value.http_status == 400
    assert "k-1" in info.value.user_message


def test_same_key_on_another_account_is_independent(standin, client):
    acct = standin.create_account(charges_enabled=True)["id"]
    params = session_params()
    mine = client.v1.checkout.sessions.create(params=params, options={"idempotency_key": "k"})
    theirs = client.v1.checkout.sessions.create(
        params=params, options={"idempotency_key": "k", "stripe_account": acct}
    )
    assert theirs.id != mine.id


def test_retrieve_and_expand_line_items(client):
    created = client.v1.checkout.sessions.create(params=session_params())

    plain = client.v1.checkout.sessions.retrieve(created.id)
    assert plain.id == created.id
    assert "line_items" not in plain

    expanded = client.v1.checkout.sessions.retrieve(
        created.id, params={"expand": ["line_items", "total_details.breakdown"]}
    )
    items = expanded.line_items.data
    assert [(i.description, i.quantity, i.amount_total) for i in items] == [
        ("Sunrise elopement", 1, 150000),
        ("Extra guest", 4, 10000),
    ]
    assert items[0].price.unit_amount == 150000
    assert expanded.total_details.breakdown.to_dict() == {"discounts": [], "taxes": []}

    listed = client.v1.checkout.sessions.line_items.list(created.id)
    assert [i.id for i in listed.data] == [i.id for i in items]


def test_expire_open_session_then_refuse_second_expire(standin, client, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())

    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    assert expired.url is None

    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.checkout.sessions.expire(session.id)
    assert info.value.http_status == 400
    assert 'status of "expired"' in info.value.user_message

    # Events caused by API calls are queued (delivered asynchronously, as
    # Stripe does); auto_deliver=False lets the test deliver them now.
    (delivery,) = standin.flush_events()
    assert delivery.status == 200
    (event,) = receiver.events("/platform")
    assert event["type"] == "checkout.session.expired"
    assert event["data"]["object"]["id"] == session.id
    assert event["request"]["id"] == expired.last_response.request_id


def test_expire_unknown_session_is_404(client):
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.checkout.sessions.expire("cs_test_missing")
    assert info.value.http_status == 404
    assert info.value.code == "resource_missing"


def test_expires_at_thirty_minutes_is_accepted(client):
    at = int(time.time()) + 30 * 60 + 5  # a few seconds of margin for the request itself
    session = client.v1.checkout.sessions.create(params=session_params(expires_at=at))
    assert session.expires_at == at


# 29:59 is refused: Stripe has no clock tolerance below 30 minutes.
@pytest.mark.parametrize("offset", [30 * 60 - 1, 29 * 60, 24 * 3600 + 60, -60])
def test_expires_at_outside_stripes_window_is_refused(client, offset):
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.checkout.sessions.create(
            params=session_params(expires_at=int(time.time()) + offset)
        )
    assert info.value.http_status == 400
    assert info.value.param == "expires_at"


@pytest.mark.parametrize(
    ("overrides", "param", "code"),
    [
        ({"line_items": None}, "line_items", "parameter_missing"),
        ({"mode": None}, "mode", "parameter_missing"),
        ({"bogus": "1"}, "bogus", "parameter_unknown"),
        (
            {
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": -1,
                            "product_data": {"name": "x"},
                        },
                        "quantity": 1,
                    }
                ]
            },
            "line_items[0][price_data][unit_amount]",
            "parameter_invalid_integer",
        ),
        (
            {
                "line_items": [
                    {
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": 100,
                            "product_data": {"name": "x"},
                        }
                    }
                ]
            },
            "line_items[0][quantity]",
            "parameter_missing",
        ),
        (
            {"payment_intent_data": {"application_fee_amount": 100}},
            "payment_intent_data[application_fee_amount]",
            "parameter_invalid",
        ),
        (
            {"payment_intent_data": {"transfer_data": {"destination": "acct_1Missing"}}},
            "payment_intent_data[transfer_data][destination]",
            "resource_missing",
        ),
    ],
)
def test_invalid_session_params_are_refused_like_stripe(client, overrides, param, code):
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.checkout.sessions.create(params=session_params(**overrides))
    assert info.value.http_status == 400
    assert info.value.param == param
    assert info.value.code == code


def test_destination_must_be_able_to_receive_transfers(standin, client):
    acct = standin.create_account(charges_enabled=False)["id"]
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.checkout.sessions.create(
            params=session_params(payment_intent_data={"transfer_data": {"destination": acct}})
        )
    assert info.value.code == "insufficient_capabilities_for_transfer"


# ---------------------------------------------------------------------------
# Paying and cancelling (hosted page) and webhooks
# ---------------------------------------------------------------------------


def test_pay_delivers_signed_completed_event_and_objects_are_retrievable(standin, client, receiver):
    acct = standin.create_account(charges_enabled=True)["id"]
    session = client.v1.checkout.sessions.create(
        params=session_params(
            payment_intent_data={
                "application_fee_amount": 16000,
                "transfer_data": {"destination": acct},
                "metadata": {"booking_id": "42"},
            }
        )
    )

    delivery = standin.pay(session.id)

    assert delivery.status == 200
    assert delivery.endpoint == "platform"
    (raw,) = receiver.received
    assert raw["path"] == "/platform"
    event = stripe.Webhook.construct_event(raw["body"], raw["headers"]["Stripe-Signature"], WHSEC)
    assert event.id == delivery.event["id"]
    assert event.type == "checkout.session.completed"
    assert event.api_version == API_VERSION
    assert event.livemode is False
    assert "account" not in event
    obj = event.data.object
    assert obj.id == session.id
    assert obj.status == "complete"
    assert obj.payment_status == "paid"
    assert obj.metadata.booking_id == "42"
    pi_id = obj.payment_intent
    assert pi_id.startswith("pi_")

    assert client.v1.events.retrieve(event.id).type == "checkout.session.completed"
    assert client.v1.checkout.sessions.retrieve(session.id).payment_intent == pi_id
    pi = client.v1.payment_intents.retrieve(pi_id)
    assert (pi.status, pi.amount, pi.currency) == ("succeeded", 160000, "usd")
    assert pi.application_fee_amount == 16000
    assert pi.transfer_data.destination == acct
    assert pi.metadata.to_dict() == {"booking_id": "42"}
    charge = client.v1.charges.retrieve(
        pi.latest_charge, params={"expand": ["balance_transaction"]}
    )
    assert (charge.paid, charge.captured, charge.status) == (True, True, "succeeded")
    assert (charge.amount, charge.amount_refunded, charge.refunded) == (160000, 0, False)
    assert charge.payment_intent == pi_id
    assert charge.balance_transaction.object == "balance_transaction"
    assert charge.balance_transaction.amount == 160000
    txn = client.v1.balance_transactions.retrieve(charge.balance_transaction.id)
    assert txn.source == charge.id
    assert client.v1.transfers.retrieve(charge.transfer).destination == acct


def test_hosted_page_shows_items_total_and_buttons(standin, client):
    session = client.v1.checkout.sessions.create(params=session_params())

    status, headers, body = http("GET", session.url)

    assert status == 200
    assert headers["Content-Type"].startswith("text/html")
    assert "Sunrise elopement" in body
    assert "$1600.00" in body
    assert f'action="/pay/{session.id}/complete"' in body
    assert '<button type="submit" name="method" value="card" id="pay">Pay</button>' in body
    assert f'action="/pay/{session.id}/cancel"' in body
    assert 'id="cancel">Cancel</button>' in body


def test_hosted_pay_button_redirects_to_success_url(standin, client, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())

    status, headers, _ = http(
        "POST",
        f"{standin.base_url}/pay/{session.id}/complete",
        {"method": "card", "email": "ana@example.com"},
    )

    assert status == 303
    assert headers["Location"] == f"https://altar.example/ok?session={session.id}"
    # Delivered before the redirect: the booking is confirmed when the buyer lands.
    assert [e["type"] for e in receiver.events()] == ["checkout.session.completed"]
    assert http("POST", f"{standin.base_url}/pay/{session.id}/complete", {})[0] == 409


def test_cancel_only_redirects_and_the_session_stays_payable(standin, client, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())
    status, headers, _ = http("POST", f"{standin.base_url}/pay/{session.id}/cancel", {})

    assert status == 303
    assert headers["Location"] == "https://altar.example/cancelled"
    assert receiver.events() == []
    assert standin.events == []
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    # Still payable, as on Stripe, until it expires or is expired.
    assert standin.pay(session.id).event["type"] == "checkout.session.completed"


def test_cancel_method_returns_the_cancel_url(standin, client):
    session = client.v1.checkout.sessions.create(
        params=session_params(cancel_url="https://altar.example/c?s={CHECKOUT_SESSION_ID}")
    )
    assert standin.cancel(session.id) == f"https://altar.example/c?s={session.id}"
    assert standin.get(session.id)["status"] == "open"


def test_expire_helper_delivers_expired_and_page_refuses_payment(standin, client, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())

    delivery = standin.expire(session.id)

    assert (delivery.event["type"], delivery.status) == ("checkout.session.expired", 200)
    assert delivery.event["data"]["object"]["status"] == "expired"
    status, _, page = http("GET", f"{standin.base_url}/pay/{session.id}")
    assert (status, 'id="pay"' in page) == (200, False)
    assert http("POST", f"{standin.base_url}/pay/{session.id}/complete", {})[0] == 409
    with pytest.raises(StandinError):
        standin.pay(session.id)
    with pytest.raises(StandinError):
        standin.expire(session.id)


def test_completed_session_cannot_be_expired(standin, client):
    session = client.v1.checkout.sessions.create(params=session_params())
    standin.pay(session.id)
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.checkout.sessions.expire(session.id)
    assert info.value.http_status == 400
    assert 'status of "complete"' in info.value.user_message


def test_expire_due_lapses_only_sessions_past_expires_at(standin, client, receiver):
    soon = client.v1.checkout.sessions.create(
        params=session_params(expires_at=int(time.time()) + 31 * 60)
    )
    later = client.v1.checkout.sessions.create(
        params=session_params(expires_at=int(time.time()) + 60 * 60)
    )

    assert standin.expire_due() == []
    (delivery,) = standin.expire_due(now=soon.expires_at)

    assert delivery.event["type"] == "checkout.session.expired"
    assert delivery.event["data"]["object"]["id"] == soon.id
    assert client.v1.checkout.sessions.retrieve(soon.id).status == "expired"
    assert client.v1.checkout.sessions.retrieve(later.id).status == "open"
    assert [e["type"] for e in receiver.events()] == ["checkout.session.expired"]


def test_async_payment_completes_unpaid_then_succeeds(standin, client, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())

    completed = standin.pay(session.id, async_payment=True)
    assert completed.event["data"]["object"]["payment_status"] == "unpaid"
    pi_id = completed.event["data"]["object"]["payment_intent"]
    assert client.v1.payment_intents.retrieve(pi_id).status == "processing"

    succeeded = standin.async_succeed(session.id)
    assert succeeded.event["type"] == "checkout.session.async_payment_succeeded"
    assert succeeded.event["data"]["object"]["payment_status"] == "paid"
    assert client.v1.payment_intents.retrieve(pi_id).status == "succeeded"
    assert [e["type"] for e in receiver.events()] == [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
    ]


def test_async_payment_can_fail(standin, client):
    session = client.v1.checkout.sessions.create(params=session_params())
    pi_id = standin.pay(session.id, async_payment=True).event["data"]["object"]["payment_intent"]

    failed = standin.async_fail(session.id)

    assert failed.event["type"] == "checkout.session.async_payment_failed"
    assert failed.event["data"]["object"]["payment_status"] == "unpaid"
    pi = client.v1.payment_intents.retrieve(pi_id)
    assert pi.status == "requires_payment_method"
    assert client.v1.charges.retrieve(pi.latest_charge).status == "failed"


def test_redelivery_sends_the_same_event_again(standin, client, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())
    event = standin.pay(session.id).event

    assert standin.deliver(event, times=2) == [200, 200]
    assert [e["id"] for e in receiver.events()] == [event["id"]] * 3


def test_failed_delivery_is_reported_not_raised(standin, client, receiver):
    receiver.status = 500
    session = client.v1.checkout.sessions.create(params=session_params())
    assert standin.pay(session.id).status == 500

    dead = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    dead_url = f"http://127.0.0.1:{dead.server_address[1]}/gone"
    dead.server_close()  # nothing listens there any more
    standin.configure_webhooks(url=dead_url, secret=WHSEC)
    other = client.v1.checkout.sessions.create(params=session_params())
    delivery = standin.pay(other.id)
    assert delivery.status == 0
    assert delivery.error
    assert client.v1.checkout.sessions.retrieve(other.id).status == "complete"


def test_platform_may_call_back_while_handling_the_webhook(standin, client, receiver):
    # The receiver retrieves the session from the stand-in before answering,
    # as dj-stripe does; synchronous delivery must not deadlock.
    seen = []

    def call_back(path, body):
        session_id = json.loads(body)["data"]["object"]["id"]
        seen.append(make_client(standin.base_url).v1.checkout.sessions.retrieve(session_id).status)

    receiver.on_request = call_back
    session = client.v1.checkout.sessions.create(params=session_params())

    assert standin.pay(session.id).status == 200
    assert seen == ["complete"]


def test_signature_verifies_with_stripe_library(standin):
    payload = json.dumps(
        standin.build_event("account.updated", {"id": "acct_1", "object": "account"})
    ).encode()

    header = standin.sign(payload, WHSEC)

    assert header == sign_payload(payload, WHSEC, int(header.split(",")[0][2:]))
    event = stripe.Webhook.construct_event(payload, header, WHSEC)
    assert event.type == "account.updated"
    with pytest.raises(stripe.error.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_wrong")
    with pytest.raises(stripe.error.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, standin.sign(payload, WHSEC, timestamp=1), WHSEC)


# ---------------------------------------------------------------------------
# Connect
# ---------------------------------------------------------------------------


def test_connect_events_go_to_the_connect_endpoint_with_account(standin, client, receiver):
    acct = standin.create_account(charges_enabled=True)["id"]
    session = client.v1.checkout.sessions.create(
        params=session_params(), options={"stripe_account": acct}
    )

    delivery = standin.pay(session.id)

    assert delivery.endpoint == "connect"
    (raw,) = receiver.received
    assert raw["path"] == "/connect"
    event = stripe.Webhook.construct_event(
        raw["body"], raw["headers"]["Stripe-Signature"], CONNECT_WHSEC
    )
    assert event.account == acct
    pi_id = event.data.object.payment_intent
    assert client.v1.payment_intents.retrieve(pi_id, options={"stripe_account": acct}).id == pi_id
    assert client.v1.events.retrieve(event.id, options={"stripe_account": acct}).account == acct
    with pytest.raises(stripe.error.InvalidRequestError):
        client.v1.payment_intents.retrieve(pi_id)


def test_account_updated_goes_to_connect_endpoint(standin, client, receiver):
    acct = standin.create_account(charges_enabled=False)["id"]
    assert client.v1.accounts.retrieve(acct).charges_enabled is False

    delivery = standin.update_account(acct, charges_enabled=True)

    assert delivery.status == 200
    (event,) = receiver.events("/connect")
    assert event["type"] == "account.updated"
    assert event["account"] == acct
    assert event["data"]["object"]["charges_enabled"] is True
    assert event["data"]["previous_attributes"]["charges_enabled"] is False
    assert client.v1.accounts.retrieve(acct).charges_enabled is True


def test_connect_events_fall_back_to_platform_endpoint(standin, receiver):
    standin.configure_webhooks(url=receiver.base + "/platform", secret=WHSEC)
    acct = standin.create_account()["id"]

    assert standin.update_account(acct, charges_enabled=True).endpoint == "platform"
    (raw,) = receiver.received
    event = stripe.Webhook.construct_event(raw["body"], raw["headers"]["Stripe-Signature"], WHSEC)
    assert event.account == acct


def test_platform_account_and_onboarding_link(standin, client, receiver):
    me = client.v1.accounts.retrieve_current()
    assert me.id == standin.platform_account_id
    # dj-stripe passes the platform's own id as Stripe-Account; Stripe allows it.
    assert (
        client.v1.checkout.sessions.create(
            params=session_params(), options={"stripe_account": me.id}
        ).status
        == "open"
    )

    acct = client.v1.accounts.create(params={"type": "express", "email": "o@example.com"})
    link = client.v1.account_links.create(
        params={
            "account": acct.id,
            "type": "account_onboarding",
            "refresh_url": "https://altar.example/refresh",
            "return_url": "https://altar.example/done",
        }
    )
    assert http("GET", link.url)[0] == 200
    status, headers, _ = http("POST", link.url + "/complete", {})
    assert (status, headers["Location"]) == (303, "https://altar.example/done")
    assert client.v1.accounts.retrieve(acct.id).charges_enabled is True
    assert [e["type"] for e in receiver.events("/connect")] == ["account.updated"]


# ---------------------------------------------------------------------------
# Refunds
# ---------------------------------------------------------------------------


def paid_intent(standin, client) -> str:
    session = client.v1.checkout.sessions.create(params=session_params())
    return standin.pay(session.id).event["data"]["object"]["payment_intent"]


def test_full_refund(standin, client, receiver):
    pi_id = paid_intent(standin, client)

    refund = client.v1.refunds.create(
        params={"payment_intent": pi_id, "metadata": {"booking_id": "42"}}
    )

    assert refund.id.startswith("re_")
    assert (refund.status, refund.amount, refund.currency) == ("succeeded", 160000, "usd")
    assert refund.payment_intent == pi_id
    assert refund.metadata.booking_id == "42"
    assert client.v1.refunds.retrieve(refund.id).charge == refund.charge
    charge = client.v1.charges.retrieve(refund.charge)
    assert (charge.amount_refunded, charge.refunded) == (160000, True)
    assert "refunds" not in charge  # not included since 2022-11-15
    expanded = client.v1.charges.retrieve(refund.charge, params={"expand": ["refunds"]})
    assert [r.id for r in expanded.refunds.data] == [refund.id]

    created, refunded = standin.flush_events()
    assert created.event["type"] == "refund.created"
    assert created.event["data"]["object"]["metadata"] == {"booking_id": "42"}
    assert refunded.event["type"] == "charge.refunded"
    assert refunded.event["data"]["previous_attributes"] == {
        "amount_refunded": 0,
        "refunded": False,
    }
    assert "refunds" not in refunded.event["data"]["object"]
    assert [e["type"] for e in receiver.events()][-2:] == ["refund.created", "charge.refunded"]


def test_partial_refunds_and_over_refund_refused(standin, client):
    pi_id = paid_intent(standin, client)

    client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 60000})
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 100001})
    assert info.value.code == "amount_too_large"
    assert info.value.param == "amount"
    second = client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 100000})

    charge = client.v1.charges.retrieve(second.charge)
    assert (charge.amount_refunded, charge.refunded) == (160000, True)
    listed = client.v1.refunds.list(params={"payment_intent": pi_id})
    assert [r.amount for r in listed.data] == [100000, 60000]
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.refunds.create(params={"charge": charge.id})
    assert info.value.code == "charge_already_refunded"
    assert [d.event["type"] for d in standin.flush_events()] == [
        "refund.created",
        "charge.refunded",
    ] * 2


def test_refund_of_unknown_payment_intent(client):
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.refunds.create(params={"payment_intent": "pi_missing"})
    assert (info.value.code, info.value.param) == ("resource_missing", "payment_intent")


def test_idempotent_refund_is_not_made_twice(standin, client):
    pi_id = paid_intent(standin, client)
    params = {"payment_intent": pi_id, "amount": 1000}
    a = client.v1.refunds.create(params=params, options={"idempotency_key": "refund-1"})
    b = client.v1.refunds.create(params=params, options={"idempotency_key": "refund-1"})
    assert a.id == b.id
    assert client.v1.charges.retrieve(a.charge).amount_refunded == 1000
    assert len(standin.flush_events()) == 2  # refund.created, charge.refunded: once


def test_refund_in_dashboard_delivers_charge_refunded(standin, client, receiver):
    pi_id = paid_intent(standin, client)

    delivery = standin.refund_in_dashboard(pi_id, amount=5000)

    assert delivery.status == 200
    assert delivery.event["type"] == "charge.refunded"
    charge = delivery.event["data"]["object"]
    assert (charge["payment_intent"], charge["amount_refunded"]) == (pi_id, 5000)
    assert charge["refunded"] is False
    assert delivery.event["request"] == {"id": None, "idempotency_key": None}
    assert receiver.events()[-1]["id"] == delivery.event["id"]


# ---------------------------------------------------------------------------
# Errors, auth, faults, timeouts
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "exc_class"),
    [
        (400, stripe.error.InvalidRequestError),
        (401, stripe.error.AuthenticationError),
        (402, stripe.error.CardError),
        (403, stripe.error.PermissionError),
        (404, stripe.error.InvalidRequestError),
        (429, stripe.error.RateLimitError),
        (500, stripe.error.APIError),
        (503, stripe.error.APIError),
    ],
)
def test_injected_errors_surface_as_library_exceptions(standin, client, status, exc_class):
    standin.fail_next("POST", "/v1/checkout/sessions", status=status)

    with pytest.raises(exc_class) as info:
        client.v1.checkout.sessions.create(params=session_params())
    assert info.value.http_status == status
    # One-shot: the next request goes through.
    assert client.v1.checkout.sessions.create(params=session_params()).status == "open"


def test_injected_error_body_is_passed_through(standin, client):
    standin.fail_next(
        "POST",
        "/v1/refunds",
        status=402,
        error={"type": "card_error", "code": "expired_card", "message": "Card expired."},
    )
    with pytest.raises(stripe.error.CardError) as info:
        client.v1.refunds.create(params={"payment_intent": "pi_x"})
    assert (info.value.code, info.value.user_message) == ("expired_card", "Card expired.")


def test_library_retry_after_500_gets_the_stored_500(standin):
    # Stripe stores the first result under the key, 500s included: the
    # library's own retry (same key) is answered with the same 500.
    standin.fail_next("POST", "/v1/checkout/sessions", status=500)
    retrying = stripe.StripeClient(
        API_KEY,
        base_addresses={"api": standin.base_url},
        max_network_retries=1,
        http_client=stripe.RequestsClient(timeout=5),
    )
    stripe_sleep = stripe.RequestsClient._sleep_time_seconds
    try:
        stripe.RequestsClient._sleep_time_seconds = lambda *a, **k: 0
        with pytest.raises(stripe.error.APIError):
            retrying.v1.checkout.sessions.create(params=session_params())
    finally:
        stripe.RequestsClient._sleep_time_seconds = stripe_sleep
    first, second = standin.requests
    assert first.idempotency_key == second.idempotency_key
    assert [e.status for e in standin.exchanges] == [500, 500]
    assert [o for o in _objects(standin, "checkout.session")] == []


def _objects(standin, object_name):
    with standin._lock:
        return [o for o in standin._objects.values() if o.get("object") == object_name]


def _raw_refund(standin, pi_id, key, amount="1000"):
    return http(
        "POST",
        f"{standin.base_url}/v1/refunds",
        {"payment_intent": pi_id, "amount": amount},
        {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": key},
    )


def test_500_before_create_is_stored_and_replayed_for_the_key(standin, client):
    pi_id = paid_intent(standin, client)
    standin.fail_next("POST", "/v1/refunds", status=500)

    first = _raw_refund(standin, pi_id, "k1")
    replay = _raw_refund(standin, pi_id, "k1")

    assert (first[0], replay[0]) == (500, 500)
    assert replay[1]["Idempotent-Replayed"] == "true"
    assert json.loads(replay[2]) == json.loads(first[2])
    assert _objects(standin, "refund") == []
    # A new key is a new request.
    assert _raw_refund(standin, pi_id, "k2")[0] == 200
    assert len(_objects(standin, "refund")) == 1


def test_500_after_create_leaves_the_refund_and_replays_the_500(standin, client):
    pi_id = paid_intent(standin, client)
    standin.fail_next("POST", "/v1/refunds", status=500, after_create=True)

    first = _raw_refund(standin, pi_id, "k1")
    replay = _raw_refund(standin, pi_id, "k1")

    assert (first[0], replay[0]) == (500, 500)
    (refund,) = _objects(standin, "refund")
    assert refund["amount"] == 1000
    listed = client.v1.refunds.list(params={"payment_intent": pi_id})
    assert [r.id for r in listed.data] == [refund["id"]]
    assert [d.event["type"] for d in standin.flush_events()] == [
        "refund.created",
        "charge.refunded",
    ]


@pytest.mark.parametrize("status", [400, 401, 429])
def test_refusals_before_execution_are_not_stored(standin, client, status):
    pi_id = paid_intent(standin, client)
    standin.fail_next("POST", "/v1/refunds", status=status)

    assert _raw_refund(standin, pi_id, "k1")[0] == status
    retry = _raw_refund(standin, pi_id, "k1")

    assert retry[0] == 200
    assert "Idempotent-Replayed" not in retry[1]


def test_validation_error_is_not_stored(standin, client):
    pi_id = paid_intent(standin, client)
    assert _raw_refund(standin, pi_id, "k1", amount="-5")[0] == 400
    assert _raw_refund(standin, pi_id, "k1", amount="-5")[0] == 400
    assert "Idempotent-Replayed" not in _raw_refund(standin, pi_id, "k1", amount="-5")[1]


def test_same_key_other_params_is_an_idempotency_error(standin, client):
    pi_id = paid_intent(standin, client)
    assert _raw_refund(standin, pi_id, "k1", amount="1000")[0] == 200
    status, _, body = _raw_refund(standin, pi_id, "k1", amount="2000")
    assert status == 400
    assert json.loads(body)["error"]["type"] == "idempotency_error"


def test_stored_result_is_forgotten_after_24_hours(standin, client, monkeypatch):
    pi_id = paid_intent(standin, client)
    standin.fail_next("POST", "/v1/refunds", status=500)
    assert _raw_refund(standin, pi_id, "k1")[0] == 500
    later = time.time() + 24 * 3600 + 1
    monkeypatch.setattr(time, "time", lambda: later)
    assert _raw_refund(standin, pi_id, "k1")[0] == 200


def test_request_while_the_key_is_in_flight_conflicts_and_is_not_stored(standin, client):
    pi_id = paid_intent(standin, client)
    # As if a first request with key k1 were still executing.
    with standin._lock:
        standin._idempotency_in_flight.add((None, "k1"))

    status, _, body = _raw_refund(standin, pi_id, "k1")

    assert (status, json.loads(body)["error"]["code"]) == (409, "idempotency_key_in_use")
    with standin._lock:
        standin._idempotency_in_flight.clear()
    assert _objects(standin, "refund") == []
    assert _raw_refund(standin, pi_id, "k1")[0] == 200


def test_hang_lets_the_client_timeout_fire(standin):
    standin.hang_next("POST", "/v1/checkout/sessions", seconds=60)
    impatient = make_client(standin.base_url, timeout=0.3)

    with pytest.raises(stripe.error.APIConnectionError):
        impatient.v1.checkout.sessions.create(params=session_params())
    assert [r.path for r in standin.requests] == ["/v1/checkout/sessions"]
    # stop() (fixture teardown) releases the hung handler thread.


def test_stop_releases_hung_requests_and_joins_threads():
    before = set(threading.enumerate())
    s = StripeStandin(api_key=API_KEY)
    s.start(sweep_interval=0.05)
    s.hang_next("GET", "/v1/", seconds=60)
    with pytest.raises(stripe.error.APIConnectionError):
        make_client(s.base_url, timeout=0.3).v1.checkout.sessions.retrieve("cs_test_x")

    s.stop()

    assert set(threading.enumerate()) - before == set()


def test_auth_is_required(standin):
    status, _, body = http("GET", f"{standin.base_url}/v1/charges/ch_x")
    assert status == 401
    assert json.loads(body)["error"]["type"] == "invalid_request_error"

    with pytest.raises(stripe.error.AuthenticationError) as info:
        make_client(standin.base_url, api_key="sk_test_wrong").v1.charges.retrieve("ch_x")
    assert info.value.http_status == 401


@pytest.mark.parametrize(
    "path",
    [
        "/v1/charges/ch_nope",
        "/v1/payment_intents/pi_nope",
        "/v1/events/evt_nope",
        "/v1/customers/cus_nope",
        "/v1/refunds/re_nope",
        "/v1/balance_transactions/txn_nope",
        "/v1/accounts/acct_nope",
        "/v1/checkout/sessions/cs_test_nope",
    ],
)
def test_unknown_ids_are_resource_missing(standin, path):
    status, _, body = http(
        "GET", standin.base_url + path, headers={"Authorization": f"Bearer {API_KEY}"}
    )
    assert status == 404
    error = json.loads(body)["error"]
    assert (error["type"], error["code"]) == ("invalid_request_error", "resource_missing")
    assert error["message"].startswith("No such ")


def test_unknown_route_is_a_stripe_shaped_404(standin):
    status, _, body = http(
        "GET",
        standin.base_url + "/v1/subscriptions",
        headers={"Authorization": f"Bearer {API_KEY}"},
    )
    assert status == 404
    assert json.loads(body)["error"]["message"].startswith("Unrecognized request URL")


def test_customers_round_trip(client):
    created = client.v1.customers.create(params={"email": "c@example.com", "name": "Ana"})
    fetched = client.v1.customers.retrieve(created.id, params={"expand": ["sources"]})
    assert (fetched.email, fetched.name, fetched.object) == ("c@example.com", "Ana", "customer")
    assert fetched.sources.data == []


def test_global_stripe_configuration_as_dj_stripe_uses_it(standin, client, monkeypatch):
    # dj-stripe calls e.g. stripe.checkout.Session.retrieve(id, api_key=..., stripe_account=...)
    # through the module-level configuration; this is how the platform points it here.
    monkeypatch.setattr(stripe, "api_base", standin.base_url)
    monkeypatch.setattr(stripe, "max_network_retries", 0)
    monkeypatch.setattr(stripe, "default_http_client", stripe.RequestsClient(timeout=5))
    session = client.v1.checkout.sessions.create(params=session_params())
    standin.pay(session.id)

    fetched = stripe.checkout.Session.retrieve(
        session.id,
        api_key=API_KEY,
        expand=["line_items"],
        stripe_account=standin.platform_account_id,
    )
    assert fetched.payment_status == "paid"
    assert len(fetched.line_items.data) == 2
    assert stripe.Account.retrieve(api_key=API_KEY).id == standin.platform_account_id


def test_reset_forgets_state_but_keeps_configuration(standin, client, receiver):
    session = client.v1.checkout.sessions.create(params=session_params())
    standin.reset()
    assert standin.requests == []
    assert standin.get(session.id) is None
    again = client.v1.checkout.sessions.create(params=session_params())
    assert standin.pay(again.id).status == 200


# ---------------------------------------------------------------------------
# Refund lifecycle, listing, dashboard refunds
# ---------------------------------------------------------------------------


def test_pending_refund_settles_with_refund_updated(standin, client, receiver):
    pi_id = paid_intent(standin, client)
    standin.refunds_pending()
    refund = client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 1000})
    assert (refund.status, refund.pending_reason) == ("pending", "processing")
    standin.flush_events()

    delivery = standin.settle_refund(refund.id)

    assert delivery.event["type"] == "refund.updated"
    assert delivery.event["data"]["object"]["status"] == "succeeded"
    assert "pending_reason" not in delivery.event["data"]["object"]
    assert delivery.event["data"]["previous_attributes"] == {"status": "pending"}
    assert client.v1.refunds.retrieve(refund.id).status == "succeeded"
    with pytest.raises(StandinError):
        standin.settle_refund(refund.id)


def test_pending_refund_fails_with_refund_failed_and_money_back(standin, client):
    pi_id = paid_intent(standin, client)
    standin.refunds_pending()
    refund = client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 1000})
    assert client.v1.charges.retrieve(refund.charge).amount_refunded == 1000

    delivery = standin.fail_refund(refund.id, failure_reason="expired_or_canceled_card")

    failed = delivery.event["data"]["object"]
    assert delivery.event["type"] == "refund.failed"
    assert (failed["status"], failed["failure_reason"]) == ("failed", "expired_or_canceled_card")
    assert failed["failure_balance_transaction"].startswith("txn_")
    charge = client.v1.charges.retrieve(refund.charge)
    assert (charge.amount_refunded, charge.refunded) == (0, False)
    standin.refunds_pending(False)
    later = client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 1000})
    assert later.status == "succeeded"


def test_refunds_list_by_payment_intent_and_charge_paginates(standin, client):
    pi_id = paid_intent(standin, client)
    other = paid_intent(standin, client)
    made = [
        client.v1.refunds.create(params={"payment_intent": pi_id, "amount": 100 + i}).id
        for i in range(3)
    ]
    client.v1.refunds.create(params={"payment_intent": other, "amount": 100})
    newest_first = list(reversed(made))

    page = client.v1.refunds.list(params={"payment_intent": pi_id, "limit": 2})
    assert ([r.id for r in page.data], page.has_more, page.url) == (
        newest_first[:2],
        True,
        "/v1/refunds",
    )
    rest = client.v1.refunds.list(
        params={"payment_intent": pi_id, "limit": 2, "starting_after": page.data[-1].id}
    )
    assert ([r.id for r in rest.data], rest.has_more) == (newest_first[2:], False)
    charge_id = standin.get(pi_id)["latest_charge"]
    by_charge = client.v1.refunds.list(params={"charge": charge_id})
    assert [r.id for r in by_charge.data] == newest_first
    assert [r["id"] for r in standin.refunds_of(pi_id)] == newest_first


def test_dashboard_refund_has_empty_metadata_and_api_refund_keeps_it(standin, client):
    pi_id = paid_intent(standin, client)
    client.v1.refunds.create(
        params={"payment_intent": pi_id, "amount": 1000, "metadata": {"altar_refund": "r1"}}
    )
    standin.flush_events()

    standin.refund_in_dashboard(pi_id, amount=500)

    dashboard, api = standin.refunds_of(pi_id)
    assert (dashboard["metadata"], api["metadata"]) == ({}, {"altar_refund": "r1"})
    types = [e["type"] for e in standin.events[-2:]]
    assert types == ["refund.created", "charge.refunded"]
    assert standin.events[-2]["data"]["object"]["id"] == dashboard["id"]


def test_refund_objects_carry_no_refund_application_fee(standin, client):
    pi_id = paid_intent(standin, client)
    refund = client.v1.refunds.create(
        params={"payment_intent": pi_id, "refund_application_fee": True}
    )
    assert "refund_application_fee" not in refund


# ---------------------------------------------------------------------------
# Disputes
# ---------------------------------------------------------------------------


def test_dispute_opened_and_won(standin, client, receiver):
    pi_id = paid_intent(standin, client)

    opened = standin.open_dispute(pi_id, reason="product_not_received")

    dispute = opened.event["data"]["object"]
    assert (opened.event["type"], opened.status) == ("charge.dispute.created", 200)
    assert (dispute["status"], dispute["reason"], dispute["amount"]) == (
        "needs_response",
        "product_not_received",
        160000,
    )
    assert dispute["payment_intent"] == pi_id
    assert client.v1.charges.retrieve(dispute["charge"]).disputed is True
    assert client.v1.disputes.retrieve(dispute["id"]).status == "needs_response"
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.refunds.create(params={"payment_intent": pi_id})
    assert info.value.code == "charge_disputed"

    closed = standin.close_dispute(dispute["id"], won=True)

    assert closed.event["type"] == "charge.dispute.closed"
    assert closed.event["data"]["object"]["status"] == "won"
    assert closed.event["data"]["previous_attributes"] == {"status": "needs_response"}
    assert len(closed.event["data"]["object"]["balance_transactions"]) == 2
    with pytest.raises(StandinError):
        standin.close_dispute(dispute["id"], won=False)


def test_dispute_lost(standin, client):
    pi_id = paid_intent(standin, client)
    dispute_id = standin.open_dispute(pi_id).event["data"]["object"]["id"]
    closed = standin.close_dispute(dispute_id, won=False)
    assert closed.event["data"]["object"]["status"] == "lost"
    assert len(closed.event["data"]["object"]["balance_transactions"]) == 1


# ---------------------------------------------------------------------------
# Connect: transfers capability, deauthorization
# ---------------------------------------------------------------------------


def test_transfers_capability_gates_destination_charges(standin, client):
    acct = standin.create_account(charges_enabled=True, transfers="pending")
    assert acct["capabilities"] == {"card_payments": "active", "transfers": "pending"}
    params = session_params(
        payment_intent_data={
            "application_fee_amount": 100,
            "transfer_data": {"destination": acct["id"]},
        }
    )
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.checkout.sessions.create(params=params)
    assert info.value.code == "insufficient_capabilities_for_transfer"

    delivery = standin.update_account(acct["id"], transfers="active")

    assert delivery.event["type"] == "account.updated"
    assert delivery.event["data"]["object"]["capabilities"]["transfers"] == "active"
    assert delivery.event["data"]["previous_attributes"] == {
        "capabilities": {"card_payments": "active", "transfers": "pending"}
    }
    assert client.v1.accounts.retrieve(acct["id"]).capabilities.transfers == "active"
    assert client.v1.checkout.sessions.create(params=params).status == "open"


def test_account_read_is_the_current_state_whatever_the_event_order(standin, client):
    acct = standin.create_account(charges_enabled=True)
    first = standin.update_account(acct["id"], transfers="inactive")
    standin.update_account(acct["id"], transfers="active")
    # An old event (redelivered late) still says inactive; the API says active.
    assert first.event["data"]["object"]["capabilities"]["transfers"] == "inactive"
    assert client.v1.accounts.retrieve(acct["id"]).capabilities.transfers == "active"


def test_deauthorization_event_and_access_revoked(standin, client, receiver):
    acct = standin.create_account(charges_enabled=True)

    delivery = standin.deauthorize(acct["id"])

    event = delivery.event
    assert (event["type"], event["account"], delivery.endpoint) == (
        "account.application.deauthorized",
        acct["id"],
        "connect",
    )
    assert event["data"]["object"] == {
        "id": standin.application_id,
        "object": "application",
        "name": "Altar (stand-in platform)",
    }
    with pytest.raises(stripe.error.PermissionError) as info:
        client.v1.accounts.retrieve(acct["id"])
    assert info.value.json_body["error"]["code"] == "account_invalid"
    with pytest.raises(stripe.error.InvalidRequestError):
        client.v1.checkout.sessions.create(
            params=session_params(
                payment_intent_data={"transfer_data": {"destination": acct["id"]}}
            )
        )


# ---------------------------------------------------------------------------
# Amount limits
# ---------------------------------------------------------------------------


def one_line(currency: str, amount: int) -> dict:
    return session_params(
        line_items=[
            {
                "price_data": {
                    "currency": currency,
                    "unit_amount": amount,
                    "product_data": {"name": "Package"},
                },
                "quantity": 1,
            }
        ]
    )


@pytest.mark.parametrize(
    ("currency", "amount", "code"),
    [
        ("usd", 49, "amount_too_small"),
        ("eur", 49, "amount_too_small"),
        ("gbp", 29, "amount_too_small"),
        ("jpy", 49, "amount_too_small"),
        ("usd", 100_000_000, "amount_too_large"),
    ],
)
def test_checkout_total_outside_stripes_limits_is_refused(client, currency, amount, code):
    with pytest.raises(stripe.error.InvalidRequestError) as info:
        client.v1.checkout.sessions.create(params=one_line(currency, amount))
    assert (info.value.http_status, info.value.code) == (400, code)


@pytest.mark.parametrize(
    ("currency", "amount"), [("usd", 50), ("gbp", 30), ("jpy", 50), ("usd", 99_999_999)]
)
def test_checkout_total_at_stripes_limits_is_accepted(client, currency, amount):
    session = client.v1.checkout.sessions.create(params=one_line(currency, amount))
    assert session.amount_total == amount


# ---------------------------------------------------------------------------
# Delayed payment methods
# ---------------------------------------------------------------------------


def test_delayed_payment_payloads_follow_stripe(standin, client):
    session = client.v1.checkout.sessions.create(params=session_params())

    completed = standin.pay(session.id, async_payment=True).event["data"]["object"]
    assert (completed["status"], completed["payment_status"]) == ("complete", "unpaid")
    pi = standin.get(completed["payment_intent"])
    assert (pi["status"], pi["payment_method_types"]) == ("processing", ["us_bank_account"])
    assert standin.get(pi["latest_charge"])["status"] == "pending"

    succeeded = standin.async_succeed(session.id).event
    assert succeeded["type"] == "checkout.session.async_payment_succeeded"
    assert succeeded["data"]["object"]["payment_status"] == "paid"
    assert standin.get(pi["id"])["status"] == "succeeded"
