"""A loopback stand-in for Stripe's servers.

Altar talks to Stripe through the official ``stripe`` library and dj-stripe.
Stripe cannot be reached from development machines or CI, so this module plays
Stripe's part over HTTP on 127.0.0.1: it is the only fake in the system. The
platform code under test is the real code - the real client library encodes
real requests, the real webhook view verifies real signatures - and only the
far end of the wire is simulated.

What it speaks (the subset of https://docs.stripe.com/api the platform uses):

* ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}``,
  ``GET /v1/checkout/sessions/{id}/line_items``,
  ``POST /v1/checkout/sessions/{id}/expire``
* ``POST /v1/refunds``, ``GET /v1/refunds/{id}``
* ``POST /v1/customers``, ``GET /v1/customers/{id}``
* ``POST /v1/accounts``, ``GET /v1/accounts/{id}``, ``GET /v1/account``,
  ``POST /v1/account_links`` (Connect onboarding)
* ``GET`` for the objects dj-stripe re-retrieves while it processes a webhook:
  ``/v1/events``, ``/v1/payment_intents``, ``/v1/charges``,
  ``/v1/balance_transactions``, ``/v1/transfers`` (each ``/{id}``)
* a hosted checkout page ``/pay/{id}`` (Pay / Cancel buttons) and a hosted
  Connect onboarding page ``/connect/onboard/{token}``

Requests are form-encoded the way Stripe's libraries encode them
(``a[b][0][c]=v``); answers are Stripe-shaped JSON objects and Stripe-shaped
error bodies with Stripe's status codes. Events are signed exactly like
Stripe's (``Stripe-Signature: t=...,v1=...``) so ``stripe.Webhook`` verifies
them.

In-process use (tests)::

    standin = StripeStandin(api_key=DEFAULT_API_KEY)
    standin.configure_webhooks(url=..., secret="whsec_...")
    base = standin.start()          # "http://127.0.0.1:PORT"
    ...
    standin.stop()

Standalone use (local development)::

    python -m tools.stripe_standin --port 12111 --api-key sk_test_... \\
        --webhook-url http://127.0.0.1:8000/stripe/webhook/ --webhook-secret whsec_...

Pure standard library on purpose: it must start before (and independently of)
Django, and it must never share state with the platform it stands in for.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import hmac
import html
import json
import logging
import re
import secrets
import signal
import string
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = [
    "API_VERSION",
    "DEFAULT_API_KEY",
    "Delivery",
    "Exchange",
    "RecordedRequest",
    "StandinError",
    "StripeStandin",
    "decode_form",
    "sign_payload",
]

log = logging.getLogger("stripe_standin")

# The API version the stripe 15 library pins (stripe._api_version). Events are
# rendered "at" this version, as Stripe renders them at the endpoint's version.
API_VERSION = "2026-08-26.dahlia"

# Stripe's window for Checkout Session expiry: "The Epoch time in seconds at
# which the Checkout Session will expire. It can be anywhere from 30 minutes to
# 24 hours after Checkout Session creation."
# (https://docs.stripe.com/api/checkout/sessions/create#create_checkout_session-expires_at)
# No tolerance: Stripe measures from the moment it creates the session, so an
# expiry computed as "now + 30 min" before the request arrives is refused.
CHECKOUT_MIN_EXPIRY = 30 * 60
CHECKOUT_MAX_EXPIRY = 24 * 60 * 60

# "The amount value supports up to eight digits (e.g., a value of 99999999 for
# a USD charge of $999,999.99)" and the minimum charge amounts per currency
# (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
MAX_AMOUNT = 99_999_999
MIN_CHARGE_AMOUNTS = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500,
    "inr": 50, "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50,
    "pln": 200, "ron": 200, "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip

# Stripe keeps an idempotency key's first result for 24 hours: "Keys are
# eligible to be removed from the system automatically after they're at least
# 24 hours old" (https://docs.stripe.com/api/idempotent_requests).
IDEMPOTENCY_KEY_TTL = 24 * 60 * 60

# Metadata limits Stripe enforces on every object.
METADATA_MAX_KEYS = 50
METADATA_MAX_KEY_LEN = 40
METADATA_MAX_VALUE_LEN = 500

ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)

# A test-mode secret key shaped like Stripe's: dj-stripe refuses keys that do
# not match ^(pk|sk|rk)_(test|live)_[a-zA-Z0-9]{24,}$.
DEFAULT_API_KEY = "sk_test_standinLocalOnly0000000000"

_ALNUM = string.ascii_letters + string.digits


def _now() -> int:
    return int(time.time())


def _rand(n: int) -> str:
    return "".join(secrets.choice(_ALNUM) for _ in range(n))


# ---------------------------------------------------------------------------
# Wire format helpers
# ---------------------------------------------------------------------------

_KEY_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SUBKEY_RE = re.compile(r"\[([^\[\]]*)\]")


def decode_form(body: str) -> dict[str, Any]:
    """Decode Stripe's nested form encoding into dicts and lists.

    ``line_items[0][price_data][currency]=usd&metadata[k]=v&expand[]=x`` becomes
    ``{"line_items": [{"price_data": {"currency": "usd"}}], "metadata": {"k": "v"},
    "expand": ["x"]}``. Values stay strings (Stripe's wire has no types); a dict
    whose keys are exactly 0..n-1 becomes a list, except under ``metadata``,
    whose keys are the caller's own.
    """
    root: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(body, keep_blank_values=True):
        m = _KEY_RE.match(key)
        parts = [m.group(1), *_SUBKEY_RE.findall(m.group(2))] if m else [key]
        node = root
        for part in parts[:-1]:
            if part == "":  # "a[]" appends
                part = str(len(node))
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        last = parts[-1] if parts[-1] != "" else str(len(node))
        node[last] = value
    return _listify(root, None)


def _listify(node: Any, key: str | None) -> Any:
    if not isinstance(node, dict):
        return node
    out = {k: _listify(v, k) for k, v in node.items()}
    if (
        key != "metadata"
        and out
        and all(k.isdigit() for k in out)
        and sorted(int(k) for k in out) == list(range(len(out)))
    ):
        return [out[str(i)] for i in range(len(out))]
    return out


def sign_payload(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's webhook signature header for ``payload`` (bytes, as sent).

    ``v1`` is the hex HMAC-SHA256, keyed with the whole endpoint secret
    (``whsec_...``), of ``"{timestamp}.{payload}"`` - exactly what
    ``stripe.Webhook.construct_event`` recomputes.
    """
    t = _now() if timestamp is None else int(timestamp)
    signed = f"{t}.".encode() + payload
    mac = hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def _canonical_header(name: str) -> str:
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def _format_amount(amount: int, currency: str) -> str:
    cur = currency.lower()
    if cur in ZERO_DECIMAL_CURRENCIES:
        text = f"{amount}"
    else:
        text = f"{amount / 100:.2f}"
    return f"${text}" if cur == "usd" else f"{text} {cur.upper()}"


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


class StripeAPIError(Exception):
    """An error answered to an API client as Stripe's error body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        **extra: Any,
    ):
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"type": type, "message": message}
        if code is not None:
            self.body["code"] = code
            self.body["doc_url"] = f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}"
        if param is not None:
            self.body["param"] = param
        self.body.update(extra)


class StandinError(ValueError):
    """A misuse of the in-process API (e.g. paying a session that is not open)."""


def _missing(param: str) -> StripeAPIError:
    return StripeAPIError(
        400, f"Missing required param: {param}.", code="parameter_missing", param=param
    )


def _unknown(param: str) -> StripeAPIError:
    return StripeAPIError(
        400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param
    )


def _no_such(object_name: str, obj_id: str, param: str = "id", status: int = 404):
    return StripeAPIError(
        status, f"No such {object_name}: '{obj_id}'", code="resource_missing", param=param
    )


def _check_known(params: dict, allowed: set[str] | frozenset[str], prefix: str = "") -> None:
    """Stripe rejects parameters it does not know; so do we (it catches typos)."""
    for key in params:
        if key not in allowed:
            _raise_unknown(prefix, key)


def _raise_unknown(prefix: str, key: str):
    raise _unknown(f"{prefix}[{key}]" if prefix else key)


def _as_dict(value: Any, param: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise StripeAPIError(
            400, f"Invalid object: {param} must be a hash.", code="parameter_invalid", param=param
        )
    return value


def _as_int(
    value: Any, param: str, *, minimum: int | None = None, required: bool = False
) -> int | None:
    if value is None or value == "":
        if required:
            raise _missing(param)
        return None
    try:
        if isinstance(value, (dict, list)):
            raise ValueError(value)
        number = int(str(value), 10)
    except ValueError:
        raise StripeAPIError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        ) from None
    if minimum is not None and number < minimum:
        raise StripeAPIError(
            400,
            f"This value must be greater than or equal to {minimum}.",
            code="parameter_invalid_integer",
            param=param,
        )
    return number


def _as_bool(value: Any, param: str) -> bool | None:
    if value is None or value == "":
        return None
    if value in ("true", True):
        return True
    if value in ("false", False):
        return False
    raise StripeAPIError(400, f"Invalid boolean: {value}", code="parameter_invalid", param=param)


def _as_str(value: Any, param: str, *, max_len: int = 5000, required: bool = False) -> str | None:
    if value is None or value == "":
        if required:
            raise _missing(param)
        return None
    if not isinstance(value, str):
        raise StripeAPIError(400, f"Invalid string: {param}", code="parameter_invalid", param=param)
    if len(value) > max_len:
        raise StripeAPIError(
            400,
            f"Invalid string: {value[:20]}...; must be at most {max_len} characters",
            code="parameter_invalid",
            param=param,
        )
    return value


def _as_metadata(value: Any, param: str = "metadata") -> dict[str, str]:
    data = _as_dict(value, param)
    out: dict[str, str] = {}
    for key, val in data.items():
        if not isinstance(val, str):
            raise StripeAPIError(
                400,
                f"Invalid value for {param}[{key}]: metadata values must be strings.",
                code="parameter_invalid",
                param=f"{param}[{key}]",
            )
        if len(key) > METADATA_MAX_KEY_LEN:
            raise StripeAPIError(
                400,
                f"Metadata keys can have up to {METADATA_MAX_KEY_LEN} characters.",
                code="parameter_invalid",
                param=f"{param}[{key}]",
            )
        if len(val) > METADATA_MAX_VALUE_LEN:
            raise StripeAPIError(
                400,
                f"Metadata values can have up to {METADATA_MAX_VALUE_LEN} characters.",
                code="parameter_invalid",
                param=f"{param}[{key}]",
            )
        if val != "":  # an empty value unsets the key, as on Stripe
            out[key] = val
    if len(out) > METADATA_MAX_KEYS:
        raise StripeAPIError(
            400,
            f"Metadata can have up to {METADATA_MAX_KEYS} keys.",
            code="parameter_invalid",
            param=param,
        )
    return out


def _as_currency(value: Any, param: str) -> str:
    cur = _as_str(value, param, required=True)
    assert cur is not None
    if not re.fullmatch(r"[A-Za-z]{3}", cur):
        raise StripeAPIError(
            400, f"Invalid currency: {cur}.", code="parameter_invalid", param=param
        )
    return cur.lower()


def _check_charge_amount(amount: int, currency: str, *, param: str | None) -> None:
    """Stripe's charge amount limits, with its error codes ``amount_too_large``
    and ``amount_too_small`` (https://docs.stripe.com/error-codes#amount-too-large,
    https://docs.stripe.com/error-codes#amount-too-small; limits in
    https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts)."""
    if amount > MAX_AMOUNT:
        raise StripeAPIError(
            400,
            f"Amount must be no more than {_format_amount(MAX_AMOUNT, currency)}",
            code="amount_too_large",
            param=param,
        )
    minimum = MIN_CHARGE_AMOUNTS.get(currency.lower())
    if minimum is not None and amount < minimum:
        raise StripeAPIError(
            400,
            f"Amount must be at least {_format_amount(minimum, currency)} {currency.lower()}",
            code="amount_too_small",
            param=param,
        )


# ---------------------------------------------------------------------------
# Records handed to tests
# ---------------------------------------------------------------------------


class RecordedRequest(tuple):
    """One API request as the stand-in received it: (method, path, params, headers).

    A 4-tuple so tests can unpack it; ``stripe_account`` and
    ``idempotency_key`` read the two headers that matter most.
    """

    __slots__ = ()

    def __new__(cls, method: str, path: str, params: dict, headers: dict):
        return super().__new__(cls, (method, path, params, headers))

    method = property(lambda self: self[0])
    path = property(lambda self: self[1])
    params = property(lambda self: self[2])
    headers = property(lambda self: self[3])

    @property
    def stripe_account(self) -> str | None:
        return self[3].get("Stripe-Account")

    @property
    def idempotency_key(self) -> str | None:
        return self[3].get("Idempotency-Key")

    def __repr__(self) -> str:
        return f"RecordedRequest({self[0]} {self[1]})"


@dataclass
class Exchange:
    """One API request and the answer the stand-in gave (body None: no answer)."""

    request: RecordedRequest
    status: int | None
    body: dict | None


@dataclass
class Delivery:
    """One webhook delivery attempt: the event, where it went and the answer.

    ``status`` is the receiver's HTTP status, 0 if no HTTP answer came back
    (refused, timed out), None if no endpoint is configured (event only stored).
    """

    event: dict
    url: str | None
    status: int | None
    endpoint: str | None = None  # "platform" | "connect" | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _Fault:
    method: str
    path_prefix: str
    remaining: int
    status: int = 500
    error: dict | None = None
    hang_seconds: float | None = None
    after_create: bool = False


@dataclass
class _IdempotentResult:
    fingerprint: str
    status: int
    body: dict
    request_id: str
    created: int


def _saved_under_key(status: int) -> bool:
    """Whether Stripe keeps this answer under the Idempotency-Key: results of an
    endpoint that ran (successes, 402 declines, 5xx), not refusals that come
    before execution (400 validation, 401, 403, 404, 409 conflicts, 429 rate
    limits) (https://docs.stripe.com/api/idempotent_requests,
    https://docs.stripe.com/rate-limits)."""
    return status < 400 or status == 402 or status >= 500


def _idempotency_mismatch(key: str) -> dict:
    return {
        "type": "idempotency_error",
        "message": "Keys for idempotent requests can only be used with the same parameters "
        f"they were first used with. Try using a key other than '{key}' if you meant to "
        "execute a different request.",
    }


def _idempotency_in_use(key: str) -> dict:
    # https://docs.stripe.com/error-codes#idempotency-key-in-use
    return {
        "type": "invalid_request_error",
        "code": "idempotency_key_in_use",
        "doc_url": "https://stripe.com/docs/error-codes/idempotency-key-in-use",
        "message": "There is currently another in-progress request using this Idempotent Key "
        "(that probably means you submitted twice, and the other request is still going "
        f"through): {key}. Please try again later.",
    }


@dataclass
class _Ctx:
    """What a route handler knows about the request it serves."""

    method: str
    path: str
    params: dict
    owner: str | None  # connected account id from Stripe-Account, None = platform
    request_id: str
    idempotency_key: str | None
    events: list = field(default_factory=list)  # events this request emitted


# Parameters Stripe accepts on the endpoints we serve. Anything else is a 400
# "Received unknown parameter", as on Stripe. Accepted-but-unmodelled ones are
# stored or ignored.
_SESSION_PARAMS = frozenset(
    """adaptive_pricing after_expiration allow_promotion_codes automatic_tax
    billing_address_collection cancel_url client_reference_id consent_collection
    currency custom_fields custom_text customer customer_creation customer_email
    customer_update discounts expand expires_at invoice_creation line_items locale
    metadata mode optional_items payment_intent_data payment_method_collection
    payment_method_configuration payment_method_data payment_method_options
    payment_method_types permissions phone_number_collection redirect_on_completion
    return_url saved_payment_method_options setup_intent_data
    shipping_address_collection shipping_options submit_type subscription_data
    success_url tax_id_collection ui_mode wallet_options""".split()
)
_LINE_ITEM_PARAMS = frozenset(
    "adjustable_quantity dynamic_tax_rates price price_data quantity tax_rates".split()
)
_PRICE_DATA_PARAMS = frozenset(
    "currency product product_data recurring tax_behavior unit_amount unit_amount_decimal".split()
)
_PRODUCT_DATA_PARAMS = frozenset("description images metadata name tax_code unit_label".split())
_PI_DATA_PARAMS = frozenset(
    """application_fee_amount capture_method description metadata on_behalf_of
    receipt_email setup_future_usage shipping statement_descriptor
    statement_descriptor_suffix transfer_data transfer_group""".split()
)
_REFUND_PARAMS = frozenset(
    """amount charge currency customer expand instructions_email metadata origin
    payment_intent reason refund_application_fee reverse_transfer""".split()
)
_CUSTOMER_PARAMS = frozenset(
    """address balance description email expand invoice_prefix invoice_settings
    metadata name next_invoice_sequence payment_method phone preferred_locales
    shipping tax tax_exempt tax_id_data test_clock""".split()
)
_ACCOUNT_PARAMS = frozenset(
    """account_token business_profile business_type capabilities company controller
    country default_currency documents email expand external_account groups
    individual metadata settings tos_acceptance type""".split()
)


# ---------------------------------------------------------------------------
# The stand-in
# ---------------------------------------------------------------------------


class StripeStandin:
    """Stripe's HTTP API, hosted checkout and webhook sender, on loopback.

    All state lives in memory behind one lock. API requests are served while
    holding it (they are quick and do no I/O), which also makes idempotency
    checks atomic. Webhook deliveries and deliberate hangs happen *outside*
    the lock, so a platform that calls back into the stand-in while handling a
    webhook is served by another server thread instead of deadlocking.
    """

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_version: str = API_VERSION,
        delivery_timeout: float = 10.0,
        auto_deliver: bool = True,
        log_requests: bool = False,
    ):
        """
        :param api_key: the only secret key accepted (``Authorization: Bearer``).
        :param port: 0 picks a free ephemeral port.
        :param delivery_timeout: seconds a webhook receiver may take to answer.
        :param auto_deliver: events caused by *API requests* (``expire``,
            refunds) are queued and, when True, delivered by a background
            thread like Stripe does; when False they wait for
            :meth:`flush_events`, which makes tests fully deterministic.
        :param log_requests: log one line per HTTP request (the CLI turns it on).
        """
        if not api_key.startswith("sk_test_"):
            raise ValueError("the stand-in is test mode only: its key must start with sk_test_")
        self.api_key = api_key
        self.host = host
        self.port = port
        self.api_version = api_version
        self.delivery_timeout = delivery_timeout
        self.auto_deliver = auto_deliver
        self.log_requests = log_requests

        self._lock = threading.RLock()
        self._outbox_cv = threading.Condition(self._lock)
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()
        self._base_url: str | None = None

        self._webhook: tuple[str, str] | None = None
        self._connect_webhook: tuple[str, str] | None = None
        self._sender: Callable[[str, bytes, dict[str, str]], int] | None = None

        self.platform_account_id = "acct_1" + _rand(15)
        self.application_id = "ca_" + _rand(32)
        self._reset_state()

    # -- lifecycle -----------------------------------------------------------

    def _reset_state(self) -> None:
        self._objects: dict[str, dict] = {}
        self._owners: dict[str, str | None] = {}
        self._line_items: dict[str, list[dict]] = {}
        self._account_links: dict[str, dict] = {}
        self._idempotency: dict[tuple[str | None, str], _IdempotentResult] = {}
        self._idempotency_in_flight: set[tuple[str | None, str]] = set()
        self._requests: list[RecordedRequest] = []
        self._exchanges: list[Exchange] = []
        self._deliveries: list[Delivery] = []
        self._event_ids: list[str] = []
        self._faults: list[_Fault] = []
        self._next_refund_status = "succeeded"
        self._deauthorized: set[str] = set()
        self._outbox: deque[dict] = deque()
        self._in_flight = 0
        # Hung requests wait on this; stop() and reset() set it so that no
        # handler thread outlives the test that hung it.
        self._release = threading.Event()
        self._store(
            self._new_account_object(
                self.platform_account_id,
                type_="standard",
                charges_enabled=True,
                details_submitted=True,
                payouts_enabled=True,
                email="platform@example.com",
                business_name="Altar (stand-in platform)",
            ),
            owner=None,
        )

    def reset(self) -> None:
        """Forget all objects, requests, faults and deliveries (not the config)."""
        with self._lock:
            self._release.set()
            self._reset_state()

    def configure_webhooks(
        self,
        url: str | None = None,
        secret: str | None = None,
        connect_url: str | None = None,
        connect_secret: str | None = None,
        sender: Callable[[str, bytes, dict[str, str]], int] | None = None,
    ) -> None:
        """Where events go.

        ``url``/``secret``: the platform's endpoint. ``connect_url``/
        ``connect_secret``: the Connect endpoint, for events about objects that
        belong to a connected account (falls back to the platform endpoint).
        ``sender(url, payload, headers) -> status`` replaces the HTTP POST,
        e.g. to hand the request to Django's test client in-process.
        """
        if url and not secret:
            raise ValueError("a webhook url needs its signing secret")
        if connect_url and not connect_secret:
            raise ValueError("a connect webhook url needs its signing secret")
        with self._lock:
            self._webhook = (url, secret) if url else None
            self._connect_webhook = (connect_url, connect_secret) if connect_url else None
            self._sender = sender

    def start(self, sweep_interval: float | None = None) -> str:
        """Serve in background threads; returns the base URL.

        ``sweep_interval``: run :meth:`expire_due` that often (seconds). Tests
        leave it off and call ``expire_due`` themselves.
        """
        if self._server is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        server = _Server((self.host, self.port), _Handler)
        server.standin = self
        self._server = server
        host, port = server.server_address[:2]
        self.port = port
        self._base_url = f"http://{host}:{port}"

        self._spawn("stripe-standin-http", lambda: server.serve_forever(poll_interval=0.05))
        if self.auto_deliver:
            self._spawn("stripe-standin-deliver", self._delivery_worker)
        if sweep_interval:
            self._spawn("stripe-standin-sweep", lambda: self._sweeper(sweep_interval))
        return self._base_url

    def stop(self) -> None:
        """Shut down and join every thread the stand-in started."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        with self._lock:
            self._release.set()
            self._outbox_cv.notify_all()
        server.shutdown()
        server.server_close()  # joins request threads (block_on_close)
        for thread in self._threads:
            thread.join()
        self._threads = []
        self._server = None

    def __enter__(self) -> StripeStandin:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("not started")
        return self._base_url

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _sweeper(self, interval: float) -> None:
        while not self._stopping.wait(interval):
            try:
                self.expire_due()
            except Exception:  # a sweep must never kill the thread
                log.exception("lapse sweep failed")

    # -- inspection ----------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every /v1 API request received, in order (copies)."""
        with self._lock:
            return list(self._requests)

    @property
    def exchanges(self) -> list[Exchange]:
        """Every /v1 request with the answer given (status None: dropped)."""
        with self._lock:
            return list(self._exchanges)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    @property
    def events(self) -> list[dict]:
        """Every event created, oldest first (copies)."""
        with self._lock:
            return [copy.deepcopy(self._objects[i]) for i in self._event_ids]

    def get(self, obj_id: str) -> dict | None:
        """A copy of any stored object, whoever owns it (for assertions)."""
        with self._lock:
            obj = self._objects.get(obj_id)
            return copy.deepcopy(obj) if obj is not None else None

    def owner_of(self, obj_id: str) -> str | None:
        """The connected account an object belongs to (None: the platform)."""
        with self._lock:
            return self._owners.get(obj_id)

    # -- fault injection -----------------------------------------------------

    def fail_next(
        self,
        method: str,
        path_prefix: str,
        status: int = 500,
        error: dict | None = None,
        count: int = 1,
        *,
        after_create: bool = False,
    ) -> None:
        """Answer the next ``count`` matching API requests with a Stripe error.

        ``error`` is the body's ``error`` object; a sensible one per status is
        used by default (402 -> card_declined, 500 -> api_error, ...).

        ``after_create=False``: the request fails before anything is created.
        ``after_create=True``: the request does its work (the refund or
        session exists at Stripe, its events are sent) but the client gets
        the error - the case a client must resolve by looking the object up.

        Like Stripe, a 5xx (or 402) answer to a request with an
        Idempotency-Key is stored and replayed for 24 h to every retry with
        that key; injected 400/401/403/404/409/429 answers are not stored.
        """
        with self._lock:
            self._faults.append(
                _Fault(method.upper(), path_prefix, count, status, error, after_create=after_create)
            )

    def hang_next(self, method: str, path_prefix: str, seconds: float, count: int = 1) -> None:
        """Make the next ``count`` matching API requests wait ``seconds`` first.

        After the wait the request is processed normally (a slow Stripe still
        does the work - the client may have given up already). stop() and
        reset() end the wait early and drop the request, so no handler thread
        outlives the server.
        """
        with self._lock:
            self._faults.append(
                _Fault(method.upper(), path_prefix, count, hang_seconds=float(seconds))
            )

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.method == method and path.startswith(fault.path_prefix):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # -- object store --------------------------------------------------------

    def _new_id(self, prefix: str) -> str:
        while True:
            if prefix == "cs":
                new = "cs_test_a1" + _rand(56)
            elif prefix == "acct":
                new = "acct_1" + _rand(15)
            else:
                new = f"{prefix}_{_rand(24)}"
            if new not in self._objects:
                return new

    def _store(self, obj: dict, owner: str | None) -> dict:
        self._objects[obj["id"]] = obj
        self._owners[obj["id"]] = owner
        return obj

    def _lookup(
        self,
        object_name: str,
        obj_id: str,
        owner: str | None,
        *,
        param: str = "id",
        status: int = 404,
    ) -> dict:
        """The stored object if it exists *in the caller's account*, else Stripe's 404.

        Like Stripe, an object of a connected account is only visible with
        that account's Stripe-Account header, and a platform object only
        without one.
        """
        obj = self._objects.get(obj_id)
        if obj is None or obj.get("object") != object_name or self._owners[obj_id] != owner:
            raise _no_such(object_name, obj_id, param=param, status=status)
        return obj

    def _account(self, account_id: str) -> dict | None:
        obj = self._objects.get(account_id)
        return obj if obj is not None and obj.get("object") == "account" else None

    # -- events --------------------------------------------------------------

    def build_event(
        self,
        type: str,
        obj: dict,
        account: str | None = None,
        *,
        previous_attributes: dict | None = None,
        request_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> dict:
        """Create, store and return a Stripe event about ``obj`` (a snapshot copy).

        ``account``: the connected account the object belongs to; such events
        carry ``account`` and go to the Connect endpoint.
        """
        with self._lock:
            data: dict[str, Any] = {"object": copy.deepcopy(obj)}
            if previous_attributes is not None:
                data["previous_attributes"] = copy.deepcopy(previous_attributes)
            has_endpoint = self._webhook is not None or (
                account is not None and self._connect_webhook is not None
            )
            event: dict[str, Any] = {
                "id": self._new_id("evt"),
                "object": "event",
                "api_version": self.api_version,
                "created": _now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 1 if has_endpoint else 0,
                "request": {"id": request_id, "idempotency_key": idempotency_key},
                "type": type,
            }
            if account is not None:
                event["account"] = account
            self._store(event, owner=account)
            self._event_ids.append(event["id"])
            return copy.deepcopy(event)

    def sign(self, payload: bytes, secret: str, timestamp: int | None = None) -> str:
        """``Stripe-Signature`` header value for ``payload``; see :func:`sign_payload`."""
        return sign_payload(payload, secret, timestamp)

    def deliver(self, event: dict, times: int = 1) -> list[int]:
        """(Re)deliver ``event`` - same id, freshly signed - ``times`` times.

        Returns the HTTP statuses (0 where no answer came). Stripe delivers at
        least once, so receivers must tolerate duplicates; this is how tests
        produce them.
        """
        if self._destination(event) is None:
            raise StandinError("no webhook endpoint configured")
        return [self._deliver_once(event).status or 0 for _ in range(times)]

    def flush_events(self) -> list[Delivery]:
        """Deliver queued events (caused by API requests) now, in this thread.

        Also waits for a delivery the background worker has in hand, so that
        afterwards every event emitted so far has reached its endpoint.
        """
        done = []
        while True:
            with self._lock:
                if not self._outbox:
                    while self._in_flight:
                        self._outbox_cv.wait()
                    return done
                event = self._outbox.popleft()
            done.append(self._deliver_once(event))

    def _queue_event(self, event: dict) -> None:
        with self._lock:
            self._outbox.append(event)
            self._outbox_cv.notify_all()

    def _delivery_worker(self) -> None:
        # Events caused by API calls are delivered asynchronously, as Stripe
        # does: delivering inside the API call would make a platform that holds
        # a database lock while calling Stripe wait on its own webhook handler.
        while True:
            with self._lock:
                while not self._outbox and not self._stopping.is_set():
                    self._outbox_cv.wait()
                if self._stopping.is_set():
                    return
                event = self._outbox.popleft()
                self._in_flight += 1
            try:
                self._deliver_once(event)
            finally:
                with self._lock:
                    self._in_flight -= 1
                    self._outbox_cv.notify_all()

    def _destination(self, event: dict) -> tuple[str, str, str] | None:
        with self._lock:
            if event.get("account") and self._connect_webhook is not None:
                return (*self._connect_webhook, "connect")
            if self._webhook is not None:
                return (*self._webhook, "platform")
            return None

    def _deliver_once(self, event: dict) -> Delivery:
        dest = self._destination(event)
        if dest is None:
            delivery = Delivery(copy.deepcopy(event), None, None)
        else:
            url, secret, endpoint = dest
            payload = json.dumps(event, indent=2).encode("utf-8")
            headers = {
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign_payload(payload, secret),
            }
            status, error = self._post(url, payload, headers)
            delivery = Delivery(copy.deepcopy(event), url, status, endpoint, error)
            if error:
                log.warning(
                    "webhook %s %s to %s failed: %s", event["id"], event["type"], url, error
                )
            else:
                log.info("webhook %s %s -> %s %s", event["id"], event["type"], url, status)
        with self._lock:
            self._deliveries.append(delivery)
        return delivery

    def _post(self, url: str, payload: bytes, headers: dict[str, str]) -> tuple[int, str | None]:
        # A delivery failure is the receiver's problem, never the stand-in's:
        # report it and carry on, as Stripe would (and then retry, which tests
        # do explicitly with deliver()).
        with self._lock:
            sender = self._sender
        try:
            if sender is not None:
                return int(sender(url, payload, headers)), None
            if not url.startswith(("http://", "https://")):
                return 0, f"unsupported URL {url!r}"
            # Scheme checked above: only http(s) URLs are ever opened.
            req = urllib.request.Request(  # noqa: S310
                url, data=payload, headers=headers, method="POST"
            )
            with urllib.request.urlopen(req, timeout=self.delivery_timeout) as resp:  # noqa: S310
                resp.read()
                return resp.status, None
        except urllib.error.HTTPError as exc:
            exc.read()
            exc.close()
            return exc.code, None
        except Exception as exc:  # noqa: BLE001 - any failure is a failed delivery
            return 0, f"{type(exc).__name__}: {exc}"

    # -- Connect accounts ----------------------------------------------------

    def _new_account_object(
        self,
        account_id: str,
        *,
        type_: str = "express",
        charges_enabled: bool = False,
        payouts_enabled: bool | None = None,
        details_submitted: bool | None = None,
        email: str | None = None,
        country: str = "US",
        business_name: str | None = None,
        metadata: dict | None = None,
        default_currency: str = "usd",
        transfers: str | None = None,
    ) -> dict:
        payouts = charges_enabled if payouts_enabled is None else payouts_enabled
        submitted = charges_enabled if details_submitted is None else details_submitted
        status = "active" if charges_enabled else "inactive"
        # capabilities.<name>: "active" | "inactive" | "pending"
        # (https://docs.stripe.com/api/accounts/object#account_object-capabilities-transfers);
        # destination charges need transfers active
        # (https://docs.stripe.com/connect/destination-charges).
        transfers = transfers or status
        # Account objects have no ``livemode`` on Stripe; dj-stripe copes.
        return {
            "id": account_id,
            "object": "account",
            "business_profile": {
                "mcc": None,
                "name": business_name,
                "product_description": None,
                "support_email": None,
                "support_phone": None,
                "support_url": None,
                "url": None,
            },
            "business_type": None,
            "capabilities": {"card_payments": status, "transfers": transfers},
            "charges_enabled": charges_enabled,
            "controller": {"type": "application", "is_controller": True},
            "country": country,
            "created": _now(),
            "default_currency": default_currency,
            "details_submitted": submitted,
            "email": email,
            "external_accounts": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/accounts/{account_id}/external_accounts",
            },
            "future_requirements": _requirements(charges_enabled),
            "metadata": dict(metadata or {}),
            "payouts_enabled": payouts,
            "requirements": _requirements(charges_enabled),
            "settings": {
                "branding": {
                    "icon": None,
                    "logo": None,
                    "primary_color": None,
                    "secondary_color": None,
                },
                "card_payments": {"statement_descriptor_prefix": None},
                "dashboard": {"display_name": business_name, "timezone": "Etc/UTC"},
                "payments": {"statement_descriptor": None},
                "payouts": {
                    "debit_negative_balances": True,
                    "schedule": {"delay_days": 2, "interval": "daily"},
                    "statement_descriptor": None,
                },
            },
            "tos_acceptance": {"date": _now() if submitted else None},
            "type": type_,
        }

    def create_account(
        self,
        *,
        charges_enabled: bool = False,
        payouts_enabled: bool | None = None,
        details_submitted: bool | None = None,
        email: str | None = None,
        country: str = "US",
        type: str = "express",
        business_name: str | None = None,
        metadata: dict | None = None,
        account_id: str | None = None,
        transfers: str | None = None,
    ) -> dict:
        """Create a connected account ("acct_..."); no event, as on Stripe.

        ``account_id`` lets a test give it a known id (e.g. a fixture tenant's).
        ``transfers``: the ``capabilities.transfers`` status ("active",
        "inactive", "pending"); by default it follows ``charges_enabled``.
        """
        with self._lock:
            new_id = account_id or self._new_id("acct")
            if new_id in self._objects:
                raise StandinError(f"{new_id} already exists")
            acct = self._new_account_object(
                new_id,
                type_=type,
                charges_enabled=charges_enabled,
                payouts_enabled=payouts_enabled,
                details_submitted=details_submitted,
                email=email,
                country=country,
                business_name=business_name,
                metadata=metadata,
                transfers=transfers,
            )
            return copy.deepcopy(self._store(acct, owner=None))

    def update_account(
        self, account_id: str, *, transfers: str | None = None, **changes: Any
    ) -> Delivery:
        """Change a connected account and deliver ``account.updated`` (Connect).

        ``charges_enabled`` also moves capabilities and requirements the way
        finishing (or losing) onboarding does; ``transfers`` sets
        ``capabilities.transfers`` ("active" | "inactive" | "pending") on its
        own; ``capabilities={...}`` merges into the capabilities; other
        keyword arguments set top-level fields as given. Stripe sends
        ``account.updated`` with ``previous_attributes``
        (https://docs.stripe.com/api/events/types#event_types-account.updated).
        """
        with self._lock:
            acct = self._account(account_id)
            if acct is None or account_id == self.platform_account_id:
                raise StandinError(f"no connected account {account_id}")
            before = copy.deepcopy(acct)
            if "charges_enabled" in changes:
                enabled = bool(changes["charges_enabled"])
                status = "active" if enabled else "inactive"
                acct["capabilities"] = {"card_payments": status, "transfers": status}
                acct["requirements"] = _requirements(enabled)
                changes.setdefault("payouts_enabled", enabled)
                if enabled:
                    changes.setdefault("details_submitted", True)
            capabilities = dict(acct["capabilities"])
            capabilities.update(changes.pop("capabilities", None) or {})
            if transfers is not None:
                if transfers not in ("active", "inactive", "pending"):
                    raise StandinError(
                        f"transfers must be active, inactive or pending: {transfers}"
                    )
                capabilities["transfers"] = transfers
            acct["capabilities"] = capabilities
            acct.update(copy.deepcopy(changes))
            previous = {k: before.get(k) for k in acct if acct[k] != before.get(k)}
            event = self.build_event(
                "account.updated", acct, account=account_id, previous_attributes=previous
            )
        return self._deliver_once(event)

    def deauthorize(self, account_id: str) -> Delivery:
        """The connected account disconnects the platform's application:
        ``account.application.deauthorized`` is delivered with ``account`` =
        the account id and an ``application`` object as ``data.object``
        (https://docs.stripe.com/api/events/types#event_types-account.application.deauthorized,
        https://docs.stripe.com/connect/webhooks). From then on requests for
        that account are refused with ``account_invalid``."""
        with self._lock:
            acct = self._account(account_id)
            if acct is None or account_id == self.platform_account_id:
                raise StandinError(f"no connected account {account_id}")
            if account_id in self._deauthorized:
                raise StandinError(f"{account_id} is already deauthorized")
            self._deauthorized.add(account_id)
            application = {
                "id": self.application_id,
                "object": "application",
                "name": "Altar (stand-in platform)",
            }
            event = self.build_event("account.application.deauthorized", application, account_id)
        return self._deliver_once(event)

    # -- checkout: hosted-page actions ---------------------------------------

    def pay(
        self, session_id: str, *, async_payment: bool = False, email: str | None = None
    ) -> Delivery:
        """What the hosted page's Pay button does; returns the delivery made.

        Creates the PaymentIntent and Charge, completes the session and
        delivers ``checkout.session.completed`` synchronously - so that, as
        with real Stripe in practice, the booking is confirmed by the time the
        buyer's browser lands on success_url. The lock is released before the
        delivery, so the platform may call back into the stand-in meanwhile.

        ``async_payment=True`` models a delayed method (bank debit): the session
        completes with ``payment_status: "unpaid"`` and the outcome follows
        with :meth:`async_succeed` / :meth:`async_fail`.
        """
        with self._lock:
            session = self._open_session(session_id)
            owner = self._owners[session_id]
            now = _now()
            pi_data = session.pop("_payment_intent_data", {})
            amount = session["amount_total"]
            currency = session["currency"]
            buyer_email = email or session.get("customer_email") or "buyer@example.com"

            customer_id = session.get("customer")
            if customer_id is None and session.get("customer_creation") == "always":
                customer_id = self._store(
                    _customer_object(self._new_id("cus"), email=buyer_email), owner
                )["id"]

            transfer_data = pi_data.get("transfer_data")
            fee = pi_data.get("application_fee_amount")
            pi_id = self._new_id("pi")
            charge_id = self._new_id("ch")
            status = "processing" if async_payment else "succeeded"
            pi = {
                "id": pi_id,
                "object": "payment_intent",
                "amount": amount,
                "amount_capturable": 0,
                "amount_details": {"tip": {}},
                "amount_received": 0 if async_payment else amount,
                "application": None,
                "application_fee_amount": fee,
                "automatic_payment_methods": None,
                "canceled_at": None,
                "cancellation_reason": None,
                "capture_method": pi_data.get("capture_method") or "automatic_async",
                "client_secret": f"{pi_id}_secret_{_rand(25)}",
                "confirmation_method": "automatic",
                "created": now,
                "currency": currency,
                "customer": customer_id,
                "description": pi_data.get("description"),
                "last_payment_error": None,
                "latest_charge": charge_id,
                "livemode": False,
                "metadata": dict(pi_data.get("metadata", {})),
                "next_action": None,
                "on_behalf_of": pi_data.get("on_behalf_of"),
                "payment_method": None,
                "payment_method_options": {},
                "payment_method_types": ["us_bank_account" if async_payment else "card"],
                "processing": None,
                "receipt_email": pi_data.get("receipt_email"),
                "review": None,
                "setup_future_usage": None,
                "shipping": None,
                "source": None,
                "statement_descriptor": pi_data.get("statement_descriptor"),
                "statement_descriptor_suffix": pi_data.get("statement_descriptor_suffix"),
                "status": status,
                "transfer_data": transfer_data,
                "transfer_group": pi_data.get("transfer_group")
                or (f"group_{pi_id}" if transfer_data else None),
            }
            self._store(pi, owner)
            charge = self._new_charge(
                charge_id, pi, owner, buyer_email, succeeded=not async_payment
            )
            self._store(charge, owner)

            session.update(
                {
                    "status": "complete",
                    "payment_status": "unpaid" if async_payment else "paid",
                    "payment_intent": pi_id,
                    "customer": customer_id,
                    "customer_details": {
                        "address": None,
                        "email": buyer_email,
                        "name": None,
                        "phone": None,
                        "tax_exempt": "none",
                        "tax_ids": [],
                    },
                    "url": None,
                }
            )
            event = self.build_event("checkout.session.completed", _public(session), owner)
        return self._deliver_once(event)

    def _new_charge(
        self, charge_id: str, pi: dict, owner: str | None, email: str, *, succeeded: bool
    ) -> dict:
        amount, currency = pi["amount"], pi["currency"]
        txn_id = (
            self._settle_balance(charge_id, amount, currency, "charge", owner)
            if succeeded
            else None
        )
        transfer_id = None
        if succeeded and pi["transfer_data"]:
            transfer_id = self._make_transfer(pi, charge_id)
        if pi["payment_method_types"] == ["card"]:
            details = {
                "type": "card",
                "card": {
                    "brand": "visa",
                    "country": "US",
                    "exp_month": 12,
                    "exp_year": time.gmtime().tm_year + 3,
                    "funding": "credit",
                    "last4": "4242",
                    "network": "visa",
                },
            }
        else:
            details = {
                "type": "us_bank_account",
                "us_bank_account": {
                    "account_holder_type": "individual",
                    "account_type": "checking",
                    "bank_name": "STRIPE TEST BANK",
                    "last4": "6789",
                    "routing_number": "110000000",
                },
            }
        return {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount if succeeded else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": None,
            "application_fee_amount": pi["application_fee_amount"],
            "balance_transaction": txn_id,
            "billing_details": {"address": None, "email": email, "name": None, "phone": None},
            "calculated_statement_descriptor": "ALTAR",
            "captured": succeeded,
            "created": _now(),
            "currency": currency,
            "customer": pi["customer"],
            "description": pi["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "fraud_details": {},
            "livemode": False,
            "metadata": dict(pi["metadata"]),
            "on_behalf_of": pi["on_behalf_of"],
            "outcome": {
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            }
            if succeeded
            else None,
            "paid": succeeded,
            "payment_intent": pi["id"],
            "payment_method": None,
            "payment_method_details": details,
            "receipt_email": pi["receipt_email"],
            "receipt_number": None,
            "receipt_url": None,
            "refunded": False,
            "review": None,
            "shipping": None,
            "source": None,
            "source_transfer": None,
            "statement_descriptor": pi["statement_descriptor"],
            "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
            "status": "succeeded" if succeeded else "pending",
            "transfer": transfer_id,
            "transfer_data": pi["transfer_data"],
            "transfer_group": pi["transfer_group"],
        }

    def _settle_balance(
        self, source: str, amount: int, currency: str, kind: str, owner: str | None
    ) -> str:
        """A balance transaction for ``source`` (Stripe's fee: 2.9% + 30 on charges)."""
        fee = min(amount, round(amount * 0.029) + 30) if kind == "charge" else 0
        txn = {
            "id": self._new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": _now() + 2 * 86400,
            "created": _now(),
            "currency": currency,
            "description": None,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": (
                [
                    {
                        "amount": fee,
                        "application": None,
                        "currency": currency,
                        "description": "Stripe processing fees",
                        "type": "stripe_fee",
                    }
                ]
                if fee
                else []
            ),
            "net": amount - fee,
            # Disputes move money as "adjustment" transactions whose reporting
            # category says why (https://docs.stripe.com/reports/reporting-categories).
            "reporting_category": kind,
            "source": source,
            "status": "pending",
            "type": "adjustment" if kind.startswith("dispute") else kind,
        }
        return self._store(txn, owner)["id"]

    def _make_transfer(self, pi: dict, charge_id: str) -> str:
        destination = pi["transfer_data"]["destination"]
        amount = pi["transfer_data"].get("amount")
        if amount is None:
            amount = pi["amount"] - (pi["application_fee_amount"] or 0)
        transfer = {
            "id": self._new_id("tr"),
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": None,
            "created": _now(),
            "currency": pi["currency"],
            "description": None,
            "destination": destination,
            "destination_payment": None,
            "livemode": False,
            "metadata": {},
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": "/v1/transfers/reversals",
            },
            "reversed": False,
            "source_transaction": charge_id,
            "source_type": "card",
            "transfer_group": pi["transfer_group"],
        }
        return self._store(transfer, None)["id"]

    def _open_session(self, session_id: str) -> dict:
        session = self._objects.get(session_id)
        if session is None or session.get("object") != "checkout.session":
            raise StandinError(f"no checkout session {session_id}")
        if session["status"] != "open":
            raise StandinError(f"checkout session {session_id} is {session['status']}")
        if session["expires_at"] <= _now():
            raise StandinError(f"checkout session {session_id} has lapsed")
        return session

    def _complete_async(self, session_id: str, succeed: bool) -> Delivery:
        with self._lock:
            session = self._objects.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                raise StandinError(f"no checkout session {session_id}")
            pi = self._objects.get(session.get("payment_intent") or "")
            if session["status"] != "complete" or pi is None or pi["status"] != "processing":
                raise StandinError(f"checkout session {session_id} has no payment in progress")
            owner = self._owners[session_id]
            charge = self._objects[pi["latest_charge"]]
            if succeed:
                pi.update({"status": "succeeded", "amount_received": pi["amount"]})
                charge.update(
                    {
                        "status": "succeeded",
                        "paid": True,
                        "captured": True,
                        "amount_captured": charge["amount"],
                        "balance_transaction": self._settle_balance(
                            charge["id"], charge["amount"], charge["currency"], "charge", owner
                        ),
                        "outcome": {
                            "network_status": "approved_by_network",
                            "reason": None,
                            "risk_level": "normal",
                            "seller_message": "Payment complete.",
                            "type": "authorized",
                        },
                    }
                )
                if pi["transfer_data"]:
                    charge["transfer"] = self._make_transfer(pi, charge["id"])
                session["payment_status"] = "paid"
                kind = "checkout.session.async_payment_succeeded"
            else:
                error = {
                    "charge": charge["id"],
                    "code": "payment_method_provider_decline",
                    "decline_code": "insufficient_funds",
                    "message": "The customer's bank account has insufficient funds.",
                    "type": "card_error",
                }
                pi.update({"status": "requires_payment_method", "last_payment_error": error})
                charge.update(
                    {
                        "status": "failed",
                        "failure_code": "insufficient_funds",
                        "failure_message": error["message"],
                        "outcome": {
                            "network_status": "declined_by_network",
                            "reason": "insufficient_funds",
                            "risk_level": "normal",
                            "seller_message": "The bank returned the decline code "
                            "`insufficient_funds`.",
                            "type": "issuer_declined",
                        },
                    }
                )
                kind = "checkout.session.async_payment_failed"
            event = self.build_event(kind, _public(session), owner)
        return self._deliver_once(event)

    def async_succeed(self, session_id: str) -> Delivery:
        """The delayed payment of a session settled: ``async_payment_succeeded``."""
        return self._complete_async(session_id, succeed=True)

    def async_fail(self, session_id: str) -> Delivery:
        """The delayed payment of a session failed: ``async_payment_failed``."""
        return self._complete_async(session_id, succeed=False)

    def cancel(self, session_id: str) -> str | None:
        """What the hosted page's Cancel (back) link does: nothing at Stripe.

        Returns the session's ``cancel_url`` (with ``{CHECKOUT_SESSION_ID}``
        filled in), where the buyer's browser goes. No event is sent and the
        session stays ``open`` and payable until ``expires_at`` or until the
        platform calls ``POST /v1/checkout/sessions/{id}/expire``: "If set,
        Checkout displays a back button and customers will be directed to this
        URL if they decide to cancel payment and return to your website."
        (https://docs.stripe.com/api/checkout/sessions/create#create_checkout_session-cancel_url)
        """
        with self._lock:
            session = self._objects.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                raise StandinError(f"no checkout session {session_id}")
            url = session.get("cancel_url")
        return url.replace("{CHECKOUT_SESSION_ID}", session_id) if url else None

    def expire(self, session_id: str) -> Delivery:
        """What ``POST /v1/checkout/sessions/{id}/expire`` does, for tests that
        need it without an API client: the session becomes ``expired`` and
        ``checkout.session.expired`` is delivered before this returns.
        Only an ``open`` session can be expired
        (https://docs.stripe.com/api/checkout/sessions/expire)."""
        with self._lock:
            session = self._objects.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                raise StandinError(f"no checkout session {session_id}")
            if session["status"] != "open":
                raise StandinError(f"checkout session {session_id} is {session['status']}")
            event = self._expire_session(session, request_id=None, idempotency_key=None)
        return self._deliver_once(event)

    def _expire_session(
        self, session: dict, *, request_id: str | None, idempotency_key: str | None
    ) -> dict:
        session.update({"status": "expired", "url": None})
        session.pop("_payment_intent_data", None)
        return self.build_event(
            "checkout.session.expired",
            _public(session),
            self._owners[session["id"]],
            request_id=request_id,
            idempotency_key=idempotency_key,
        )

    def expire_due(self, now: int | float | None = None) -> list[Delivery]:
        """Lapse open sessions whose ``expires_at`` has passed (as of ``now``).

        Each one becomes ``expired`` and its ``checkout.session.expired`` event
        is delivered before this returns. The CLI runs this every few seconds.
        """
        moment = _now() if now is None else now
        with self._lock:
            due = [
                obj
                for obj in self._objects.values()
                if obj.get("object") == "checkout.session"
                and obj["status"] == "open"
                and obj["expires_at"] <= moment
            ]
            due.sort(key=lambda s: s["expires_at"])
            events = [self._expire_session(s, request_id=None, idempotency_key=None) for s in due]
        return [self._deliver_once(e) for e in events]

    # -- disputes ------------------------------------------------------------

    def open_dispute(
        self, payment_intent_id: str, *, reason: str = "fraudulent", amount: int | None = None
    ) -> Delivery:
        """The buyer's bank disputes a payment: ``charge.dispute.created`` is
        delivered with a dispute in ``needs_response``, and the charge is
        ``disputed`` (https://docs.stripe.com/api/disputes/object,
        https://docs.stripe.com/api/events/types#event_types-charge.dispute.created).
        ``reason``: one of Stripe's dispute reasons
        (https://docs.stripe.com/disputes/categories)."""
        with self._lock:
            pi = self._objects.get(payment_intent_id)
            if pi is None or pi.get("object") != "payment_intent" or pi["status"] != "succeeded":
                raise StandinError(f"no succeeded payment {payment_intent_id}")
            owner = self._owners[payment_intent_id]
            charge = self._objects[pi["latest_charge"]]
            if self._open_dispute_of(charge["id"]) is not None:
                raise StandinError(f"charge {charge['id']} already has an open dispute")
            disputed = charge["amount"] - charge["amount_refunded"] if amount is None else amount
            dispute_id = self._new_id("dp")
            # The disputed amount (and a dispute fee) leave the balance at once.
            txn = self._settle_balance(dispute_id, -disputed, charge["currency"], "dispute", owner)
            now = _now()
            card = charge["payment_method_details"].get("card") or {}
            dispute = {
                "id": dispute_id,
                "object": "dispute",
                "amount": disputed,
                "balance_transactions": [copy.deepcopy(self._objects[txn])],
                "charge": charge["id"],
                "created": now,
                "currency": charge["currency"],
                "enhanced_eligibility_types": [],
                "evidence": {name: None for name in _DISPUTE_EVIDENCE_FIELDS}
                | {"enhanced_evidence": {}},
                "evidence_details": {
                    "due_by": now + 7 * 86400,
                    "enhanced_eligibility": {},
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "network_reason_code": None,
                "payment_intent": payment_intent_id,
                "payment_method_details": {
                    "card": {
                        "brand": card.get("brand", "visa"),
                        "case_type": "chargeback",
                        "network": card.get("network", "visa"),
                        "network_reason_code": "10.4",
                    },
                    "type": "card",
                }
                if card
                else None,
                "reason": reason,
                "status": "needs_response",
            }
            self._store(dispute, owner)
            charge["disputed"] = True
            event = self.build_event("charge.dispute.created", dispute, owner)
        return self._deliver_once(event)

    def close_dispute(self, dispute_id: str, *, won: bool) -> Delivery:
        """The dispute is decided: status ``won`` or ``lost`` and
        ``charge.dispute.closed`` is delivered
        (https://docs.stripe.com/api/events/types#event_types-charge.dispute.closed).
        A won dispute returns the amount to the balance."""
        with self._lock:
            dispute = self._objects.get(dispute_id)
            if dispute is None or dispute.get("object") != "dispute":
                raise StandinError(f"no dispute {dispute_id}")
            if dispute["status"] in ("won", "lost"):
                raise StandinError(f"dispute {dispute_id} is already {dispute['status']}")
            owner = self._owners[dispute_id]
            previous = {"status": dispute["status"]}
            dispute["status"] = "won" if won else "lost"
            if won:
                txn = self._settle_balance(
                    dispute_id, dispute["amount"], dispute["currency"], "dispute_reversal", owner
                )
                dispute["balance_transactions"].append(copy.deepcopy(self._objects[txn]))
            event = self.build_event(
                "charge.dispute.closed", dispute, owner, previous_attributes=previous
            )
        return self._deliver_once(event)

    # -- refunds -------------------------------------------------------------

    def refund_in_dashboard(
        self, payment_intent_id: str, amount: int | None = None, reason: str | None = None
    ) -> Delivery:
        """A staff member refunds in Stripe's dashboard.

        ``refund.created`` then ``charge.refunded`` are delivered; the returned
        Delivery is the ``charge.refunded`` one (:meth:`refunds_of` finds the
        refund). A dashboard refund carries no metadata: only the API caller
        can set it (https://docs.stripe.com/api/refunds/create#create_refund-metadata).
        """
        with self._lock:
            owner = self._owners.get(payment_intent_id)
            params: dict[str, Any] = {"payment_intent": payment_intent_id}
            if amount is not None:
                params["amount"] = str(amount)
            if reason is not None:
                params["reason"] = reason
            ctx = _Ctx("POST", "/v1/refunds", params, owner, "", None)
            try:
                self._api_create_refund(ctx, None)
            except StripeAPIError as exc:
                raise StandinError(exc.body["message"]) from None
            created, refunded = ctx.events
        self._deliver_once(created)
        return self._deliver_once(refunded)

    def refunds_of(self, payment_intent_id: str) -> list[dict]:
        """Copies of the refunds of a payment, newest first (for assertions)."""
        with self._lock:
            refunds = [
                o
                for o in self._objects.values()
                if o.get("object") == "refund" and o["payment_intent"] == payment_intent_id
            ]
            return copy.deepcopy(self._list_page(refunds, "/v1/refunds", {"limit": "100"})["data"])

    def _refund(
        self,
        ctx: _Ctx,
        charge: dict,
        amount: int | None,
        *,
        metadata: dict,
        reason: str | None,
        reverse_transfer: bool,
    ) -> dict:
        if charge["status"] != "succeeded":
            raise StripeAPIError(
                400,
                f"Charge {charge['id']} has not succeeded and cannot be refunded.",
                code="charge_not_refundable",
            )
        if charge.get("disputed") and self._open_dispute_of(charge["id"]) is not None:
            # https://docs.stripe.com/error-codes#charge-disputed
            raise StripeAPIError(
                400,
                f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                code="charge_disputed",
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeAPIError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount is None:
            amount = remaining
        if amount > remaining:
            raise StripeAPIError(
                400,
                f"Refund amount ({_format_amount(amount, charge['currency'])}) is greater than "
                f"unrefunded amount on charge ({_format_amount(remaining, charge['currency'])})",
                code="amount_too_large",
                param="amount",
            )
        if reverse_transfer and not charge.get("transfer"):
            raise StripeAPIError(
                400,
                "You cannot reverse the transfer of a charge that has no transfer.",
                code="parameter_invalid",
                param="reverse_transfer",
            )
        owner = ctx.owner
        refund_id = self._new_id("re")
        status = self._next_refund_status
        # The refund object at 2026-08-26.dahlia: the fields of the library's
        # Refund class (https://docs.stripe.com/api/refunds/object). There is
        # no ``refund_application_fee`` field: it is a create parameter only.
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": self._settle_balance(
                refund_id, -amount, charge["currency"], "refund", owner
            ),
            "charge": charge["id"],
            "created": _now(),
            "currency": charge["currency"],
            "customer": charge["customer"],
            "description": None,
            "destination_details": {
                "card": {
                    "reference_status": "pending",
                    "reference_type": "acquirer_reference_number",
                    "type": "refund",
                },
                "type": "card",
            },
            "failure_balance_transaction": None,
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "payment_method": charge["payment_method"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": status,
            "transfer_reversal": self._new_id("trr") if reverse_transfer else None,
        }
        if status == "pending":
            # https://docs.stripe.com/api/refunds/object#refund_object-pending_reason
            refund["pending_reason"] = "processing"
        self._store(refund, owner)

        previous = {
            "amount_refunded": charge["amount_refunded"],
            "refunded": charge["refunded"],
        }
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        if previous["refunded"] == charge["refunded"]:
            del previous["refunded"]  # previous_attributes lists changed fields only
        # Creating a refund emits refund.created ("Occurs whenever a refund is
        # created") and charge.refunded ("Occurs whenever a charge is refunded,
        # including partial refunds"); neither payload carries the charge's
        # refunds list, which is no longer included since 2022-11-15
        # (https://docs.stripe.com/api/events/types#event_types-refund.created,
        # https://docs.stripe.com/api/events/types#event_types-charge.refunded,
        # https://docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand).
        request = {"request_id": ctx.request_id or None, "idempotency_key": ctx.idempotency_key}
        ctx.events.append(self.build_event("refund.created", refund, owner, **request))
        ctx.events.append(
            self.build_event(
                "charge.refunded", charge, owner, previous_attributes=previous, **request
            )
        )
        return refund

    def _open_dispute_of(self, charge_id: str) -> dict | None:
        for obj in self._objects.values():
            if (
                obj.get("object") == "dispute"
                and obj["charge"] == charge_id
                and obj["status"] not in ("won", "lost")
            ):
                return obj
        return None

    def refunds_pending(self, pending: bool = True) -> None:
        """Refunds created from now on start ``pending`` (as bank-debit and
        some card refunds do) until :meth:`settle_refund` / :meth:`fail_refund`;
        ``False`` restores immediate ``succeeded``
        (https://docs.stripe.com/refunds#refund-statuses)."""
        with self._lock:
            self._next_refund_status = "pending" if pending else "succeeded"

    def settle_refund(self, refund_id: str) -> Delivery:
        """A pending refund succeeds: ``refund.updated`` is delivered
        (https://docs.stripe.com/api/events/types#event_types-refund.updated)."""
        with self._lock:
            refund = self._pending_refund(refund_id)
            refund["status"] = "succeeded"
            refund.pop("pending_reason", None)
            event = self.build_event(
                "refund.updated",
                refund,
                self._owners[refund_id],
                previous_attributes={"status": "pending"},
            )
        return self._deliver_once(event)

    def fail_refund(self, refund_id: str, failure_reason: str = "declined") -> Delivery:
        """A pending refund fails: the money goes back to the balance, the
        charge's ``amount_refunded`` drops again and ``refund.failed`` is
        delivered ("Occurs whenever a refund has failed",
        https://docs.stripe.com/api/events/types#event_types-refund.failed;
        failure_reason values: https://docs.stripe.com/api/refunds/object#refund_object-failure_reason)."""
        with self._lock:
            refund = self._pending_refund(refund_id)
            owner = self._owners[refund_id]
            refund["status"] = "failed"
            refund.pop("pending_reason", None)
            refund["failure_reason"] = failure_reason
            refund["failure_balance_transaction"] = self._settle_balance(
                refund_id, refund["amount"], refund["currency"], "refund_failure", owner
            )
            charge = self._objects[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            event = self.build_event(
                "refund.failed", refund, owner, previous_attributes={"status": "pending"}
            )
        return self._deliver_once(event)

    def _pending_refund(self, refund_id: str) -> dict:
        refund = self._objects.get(refund_id)
        if refund is None or refund.get("object") != "refund":
            raise StandinError(f"no refund {refund_id}")
        if refund["status"] != "pending":
            raise StandinError(f"refund {refund_id} is {refund['status']}, not pending")
        return refund

    def _api_list_refunds(self, ctx: _Ctx, match: re.Match) -> dict:
        """``GET /v1/refunds`` filtered by ``charge`` / ``payment_intent``,
        newest first, paginated like every Stripe list
        (https://docs.stripe.com/api/refunds/list, https://docs.stripe.com/api/pagination)."""
        p = ctx.params
        _check_known(
            p,
            frozenset(
                "charge created ending_before expand limit payment_intent starting_after".split()
            ),
        )
        charge_id = _as_str(p.get("charge"), "charge")
        pi_id = _as_str(p.get("payment_intent"), "payment_intent")
        refunds = [
            obj
            for oid, obj in self._objects.items()
            if obj.get("object") == "refund"
            and self._owners[oid] == ctx.owner
            and (charge_id is None or obj["charge"] == charge_id)
            and (pi_id is None or obj["payment_intent"] == pi_id)
        ]
        return self._list_page(refunds, "/v1/refunds", p)

    def _list_page(self, items: list[dict], url: str, p: dict) -> dict:
        # Newest first; ids break ties within one second in creation order.
        order = {oid: i for i, oid in enumerate(self._objects)}
        items = sorted(items, key=lambda o: (o["created"], order[o["id"]]), reverse=True)
        limit = _as_int(p.get("limit"), "limit", minimum=1)
        limit = 10 if limit is None else limit
        if limit > 100:
            raise StripeAPIError(
                400,
                "This value must be less than or equal to 100.",
                code="parameter_invalid_integer",
                param="limit",
            )
        after = _as_str(p.get("starting_after"), "starting_after")
        before = _as_str(p.get("ending_before"), "ending_before")
        ids = [o["id"] for o in items]
        for cursor, param in ((after, "starting_after"), (before, "ending_before")):
            if cursor is not None and cursor not in ids:
                raise _no_such(url.rsplit("/", 1)[-1].rstrip("s"), cursor, param=param, status=400)
        if after is not None:
            rest = items[ids.index(after) + 1 :]
            page, has_more = rest[:limit], len(rest) > limit
        elif before is not None:
            rest = items[: ids.index(before)]
            page, has_more = rest[-limit:], len(rest) > limit
        else:
            page, has_more = items[:limit], len(items) > limit
        return {"object": "list", "data": page, "has_more": has_more, "url": url}

    # -- HTTP: API dispatch --------------------------------------------------

    def _routes(self) -> list[tuple[str, re.Pattern, Callable[[_Ctx, re.Match], Any]]]:
        r = re.compile
        return [
            ("POST", r(r"/v1/checkout/sessions"), self._api_create_session),
            ("GET", r(r"/v1/checkout/sessions/([^/]+)"), self._api_get("checkout.session")),
            ("GET", r(r"/v1/checkout/sessions/([^/]+)/line_items"), self._api_line_items),
            ("POST", r(r"/v1/checkout/sessions/([^/]+)/expire"), self._api_expire_session),
            ("POST", r(r"/v1/refunds"), self._api_create_refund),
            ("GET", r(r"/v1/refunds"), self._api_list_refunds),
            ("GET", r(r"/v1/refunds/([^/]+)"), self._api_get("refund")),
            ("GET", r(r"/v1/payment_intents/([^/]+)"), self._api_get("payment_intent")),
            ("GET", r(r"/v1/charges/([^/]+)"), self._api_get("charge")),
            ("GET", r(r"/v1/balance_transactions/([^/]+)"), self._api_get("balance_transaction")),
            ("GET", r(r"/v1/transfers/([^/]+)"), self._api_get("transfer")),
            ("GET", r(r"/v1/disputes/([^/]+)"), self._api_get("dispute")),
            ("GET", r(r"/v1/events/([^/]+)"), self._api_get("event")),
            ("POST", r(r"/v1/customers"), self._api_create_customer),
            ("GET", r(r"/v1/customers/([^/]+)"), self._api_get("customer")),
            ("POST", r(r"/v1/accounts"), self._api_create_account),
            ("GET", r(r"/v1/accounts/([^/]+)"), self._api_get_account),
            ("GET", r(r"/v1/account"), self._api_get_own_account),
            ("POST", r(r"/v1/account_links"), self._api_create_account_link),
        ]

    def _handle_api(self, method: str, path: str, params: dict, headers: dict[str, str]):
        """Serve one /v1 request; returns (status, body dict, extra headers).

        The request and the answer are recorded (:attr:`exchanges`) so that a
        conformance check can hold both against Stripe's published types.
        """
        request = RecordedRequest(method, path, copy.deepcopy(params), headers)
        with self._lock:
            self._requests.append(request)
        status, body, extra = self._serve_api(method, path, params, headers)
        with self._lock:
            self._exchanges.append(Exchange(request, status, copy.deepcopy(body)))
        return status, body, extra

    def _serve_api(self, method: str, path: str, params: dict, headers: dict[str, str]):
        request_id = "req_" + _rand(14)
        extra = {"Request-Id": request_id, "Stripe-Version": self.api_version}

        # Refused before any endpoint runs: nothing is saved under the key.
        auth_error = self._check_auth(headers.get("Authorization"))
        if auth_error is not None:
            return 401, {"error": auth_error}, extra
        idem_key = headers.get("Idempotency-Key")
        if idem_key:
            extra["Idempotency-Key"] = idem_key
        with self._lock:
            try:
                owner = self._resolve_owner(headers.get("Stripe-Account"))
            except StripeAPIError as exc:
                return exc.status, {"error": exc.body}, extra

        # Idempotency as Stripe documents it (https://docs.stripe.com/api/idempotent_requests):
        # "saving the resulting status code and body of the first request made
        # for any given idempotency key, regardless of whether it succeeded or
        # failed. Subsequent requests with the same key return the same result,
        # including 500 errors." -- "Results are only saved if an API endpoint
        # started executing. If incoming parameters failed validation, or the
        # request conflicted with another that was executing concurrently, no
        # idempotent result is saved" -- "The idempotency layer compares
        # incoming parameters to those of the original request and errors
        # unless they're the same" -- keys only matter on POST ("Sending
        # idempotency keys in GET and DELETE requests has no effect").
        fingerprint = json.dumps([method, path, params], sort_keys=True)
        slot = (owner, idem_key) if idem_key and method == "POST" else None
        with self._lock:
            if slot is not None:
                stored = self._idempotency.get(slot)
                if stored is not None and _now() - stored.created > IDEMPOTENCY_KEY_TTL:
                    del self._idempotency[slot]  # pruned after 24 h: the key is new again
                    stored = None
                if stored is not None:
                    if stored.fingerprint != fingerprint:
                        return 400, {"error": _idempotency_mismatch(idem_key)}, extra
                    extra["Idempotent-Replayed"] = "true"
                    extra["Original-Request"] = stored.request_id
                    return stored.status, copy.deepcopy(stored.body), extra
                if slot in self._idempotency_in_flight:
                    return 409, {"error": _idempotency_in_use(idem_key)}, extra
                self._idempotency_in_flight.add(slot)
        try:
            return self._execute(
                method, path, params, owner, request_id, idem_key, slot, fingerprint, extra
            )
        finally:
            if slot is not None:
                with self._lock:
                    self._idempotency_in_flight.discard(slot)

    def _execute(self, method, path, params, owner, request_id, idem_key, slot, fingerprint, extra):
        fault = self._take_fault(method, path)
        if fault is not None and fault.hang_seconds is not None:
            with self._lock:
                release = self._release
            if release.wait(fault.hang_seconds) or self._stopping.is_set():
                return None, None, extra  # dropped: stop()/reset() ended the hang
            fault = None  # a slow Stripe still does the work
        with self._lock:
            if fault is not None and not fault.after_create:
                status, body = fault.status, {"error": fault.error or _default_fault(fault.status)}
            else:
                ctx = _Ctx(method, path, params, owner, request_id, idem_key)
                try:
                    status, body = self._dispatch(ctx)
                except StripeAPIError as exc:
                    # Validation failures: the endpoint did not run, nothing is saved.
                    return exc.status, {"error": exc.body}, extra
                for event in ctx.events:
                    self._queue_event(event)
                if fault is not None:  # the work is done, but the client sees an error
                    status = fault.status
                    body = {"error": fault.error or _default_fault(fault.status)}
            if slot is not None and _saved_under_key(status):
                self._idempotency[slot] = _IdempotentResult(
                    fingerprint, status, copy.deepcopy(body), request_id, _now()
                )
            return status, body, extra

    def _check_auth(self, authorization: str | None) -> dict | None:
        if not authorization:
            return {
                "type": "invalid_request_error",
                "message": "You did not provide an API key. You need to provide your API key "
                "in the Authorization header, using Bearer auth (e.g. "
                "'Authorization: Bearer YOUR_SECRET_KEY').",
            }
        scheme, _, credential = authorization.partition(" ")
        key = credential.strip()
        if scheme.lower() == "basic":
            try:
                key = base64.b64decode(key).decode().partition(":")[0]
            except ValueError:
                key = ""
        elif scheme.lower() != "bearer":
            key = ""
        if not key.startswith("sk_") or not hmac.compare_digest(key, self.api_key):
            shown = (key[:8] + "*" * 4 + key[-4:]) if len(key) > 12 else "****"
            return {
                "type": "invalid_request_error",
                "message": f"Invalid API Key provided: {shown}",
            }
        return None

    def _resolve_owner(self, stripe_account: str | None) -> str | None:
        if not stripe_account or stripe_account == self.platform_account_id:
            return None
        if self._account(stripe_account) is None or stripe_account in self._deauthorized:
            raise StripeAPIError(
                403,
                f"The provided key '{self.api_key[:8]}****' does not have access to account "
                f"'{stripe_account}' (or that account does not exist). Application access may "
                "have been revoked.",
                code="account_invalid",
            )
        return stripe_account

    def _dispatch(self, ctx: _Ctx) -> tuple[int, dict]:
        for method, pattern, handler in self._routes():
            match = pattern.fullmatch(ctx.path)
            if match is not None and method == ctx.method:
                obj = handler(ctx, match)
                return 200, self._expand(obj, ctx.params.get("expand"), ctx.owner)
        raise StripeAPIError(
            404,
            f"Unrecognized request URL ({ctx.method}: {ctx.path}). Please see "
            "https://stripe.com/docs or we can help at https://support.stripe.com/.",
        )

    def _expand(self, obj: dict, expand: Any, owner: str | None) -> dict:
        """Apply ``expand[]`` (copying): ids of stored objects become the objects."""
        out = copy.deepcopy(_public(obj))
        if not expand:
            return out
        paths = expand if isinstance(expand, list) else [expand]
        for path in paths:
            if not isinstance(path, str):
                continue
            self._expand_path(out, path.split("."), owner)
        return out

    def _expand_path(self, node: Any, parts: list[str], owner: str | None) -> None:
        if not parts or not isinstance(node, dict):
            return
        head, rest = parts[0], parts[1:]
        if node.get("object") == "list" and head == "data":
            for item in node.get("data", []):
                self._expand_path(item, rest, owner)
            return
        if node.get("object") == "checkout.session" and head == "line_items":
            node["line_items"] = self._line_item_list(node["id"])
        elif node.get("object") == "charge" and head == "refunds":
            # Includable only (https://docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand).
            charge_refunds = [
                o
                for o in self._objects.values()
                if o.get("object") == "refund" and o["charge"] == node["id"]
            ]
            node["refunds"] = self._list_page(
                charge_refunds, f"/v1/charges/{node['id']}/refunds", {}
            )
        elif head == "breakdown" and "amount_discount" in node:
            node["breakdown"] = {"discounts": [], "taxes": []}
        value = node.get(head)
        if isinstance(value, str) and value in self._objects and self._owners[value] == owner:
            node[head] = copy.deepcopy(_public(self._objects[value]))
        elif head == "sources" and node.get("object") == "customer":
            node["sources"] = {
                "object": "list",
                "data": [],
                "has_more": False,
                "url": f"/v1/customers/{node['id']}/sources",
            }
        self._expand_path(node.get(head), rest, owner)

    def _line_item_list(self, session_id: str) -> dict:
        items = copy.deepcopy(self._line_items.get(session_id, []))
        return {
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    # -- HTTP: API routes ----------------------------------------------------

    def _api_get(self, object_name: str) -> Callable[[_Ctx, re.Match], dict]:
        def handler(ctx: _Ctx, match: re.Match) -> dict:
            return self._lookup(object_name, match.group(1), ctx.owner)

        return handler

    def _api_line_items(self, ctx: _Ctx, match: re.Match) -> dict:
        session = self._lookup("checkout.session", match.group(1), ctx.owner)
        return self._line_item_list(session["id"])

    def _api_create_session(self, ctx: _Ctx, match: re.Match) -> dict:
        p = ctx.params
        _check_known(p, _SESSION_PARAMS)
        mode = _as_str(p.get("mode"), "mode", required=True)
        if mode != "payment":
            raise StripeAPIError(
                400,
                f"Invalid mode: {mode}. (The Stripe stand-in implements mode=payment only.)",
                code="parameter_invalid",
                param="mode",
            )
        # At 2026-08-26.dahlia the hosted page is ui_mode "hosted_page" (the
        # library's Session.ui_mode literals: elements, embedded_page, form,
        # hosted_page; "Defaults to `hosted_page`").
        ui_mode = p.get("ui_mode") or "hosted_page"
        if ui_mode != "hosted_page":
            raise StripeAPIError(
                400,
                "The Stripe stand-in implements ui_mode=hosted_page only.",
                code="parameter_invalid",
                param="ui_mode",
            )
        now = _now()

        raw_items = p.get("line_items")
        if raw_items in (None, "", [], {}):
            raise _missing("line_items")
        if not isinstance(raw_items, list):
            raise StripeAPIError(400, "Invalid array", code="parameter_invalid", param="line_items")
        items = [self._line_item(raw, i) for i, raw in enumerate(raw_items)]
        currencies = {item["currency"] for item in items}
        if len(currencies) > 1:
            raise StripeAPIError(
                400,
                "All line items must use the same currency; found "
                f"{', '.join(sorted(currencies))}.",
                code="parameter_invalid",
                param="line_items",
            )
        currency = items[0]["currency"]
        if p.get("currency") and _as_currency(p["currency"], "currency") != currency:
            raise StripeAPIError(
                400,
                "currency must match the line items' currency.",
                code="parameter_invalid",
                param="currency",
            )
        amount_total = sum(item["amount_total"] for item in items)
        _check_charge_amount(amount_total, currency, param="line_items")

        expires_at = _as_int(p.get("expires_at"), "expires_at")
        if expires_at is None:
            expires_at = now + CHECKOUT_MAX_EXPIRY
        elif expires_at - now < CHECKOUT_MIN_EXPIRY:
            raise StripeAPIError(
                400,
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
                "creation.",
                code="parameter_invalid",
                param="expires_at",
            )
        elif expires_at - now > CHECKOUT_MAX_EXPIRY:
            raise StripeAPIError(
                400,
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session "
                "creation.",
                code="parameter_invalid",
                param="expires_at",
            )

        customer = _as_str(p.get("customer"), "customer")
        customer_email = _as_str(p.get("customer_email"), "customer_email", max_len=800)
        if customer and customer_email:
            raise StripeAPIError(
                400,
                "You may only specify one of these parameters: customer, customer_email.",
                code="parameter_invalid",
                param="customer_email",
            )
        if customer:
            self._lookup("customer", customer, ctx.owner, param="customer", status=400)
        customer_creation = p.get("customer_creation") or "if_required"
        if customer_creation not in ("always", "if_required"):
            raise StripeAPIError(
                400,
                f"Invalid customer_creation: {customer_creation}",
                code="parameter_invalid",
                param="customer_creation",
            )

        pi_data = self._payment_intent_data(ctx, amount_total)
        session_id = self._new_id("cs")
        success_url = _as_str(p.get("success_url"), "success_url", max_len=5000)
        cancel_url = _as_str(p.get("cancel_url"), "cancel_url", max_len=5000)
        for name, url in (("success_url", success_url), ("cancel_url", cancel_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise StripeAPIError(400, "Not a valid URL", code="url_invalid", param=name)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "adaptive_pricing": {"enabled": False},
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": amount_total,
            "amount_total": amount_total,
            "automatic_tax": {
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            "billing_address_collection": p.get("billing_address_collection"),
            "cancel_url": cancel_url,
            "client_reference_id": _as_str(
                p.get("client_reference_id"), "client_reference_id", max_len=200
            ),
            "client_secret": None,
            "collected_information": None,
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": currency,
            "currency_conversion": None,
            "custom_fields": [],
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "customer": customer,
            "customer_creation": customer_creation,
            "customer_details": None,
            "customer_email": customer_email,
            "discounts": [],
            "expires_at": expires_at,
            "invoice": None,
            "invoice_creation": {"enabled": False, "invoice_data": {}},
            "livemode": False,
            "locale": p.get("locale"),
            "metadata": _as_metadata(p.get("metadata")),
            "mode": "payment",
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_configuration_details": None,
            "payment_method_options": {},
            "payment_method_types": p.get("payment_method_types") or ["card"],
            "payment_status": "unpaid",
            "phone_number_collection": {"enabled": False},
            "recovered_from": None,
            "saved_payment_method_options": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": p.get("submit_type"),
            "subscription": None,
            "success_url": success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted_page",
            "url": f"{self.base_url}/pay/{session_id}",
            "wallet_options": None,
            # Private: what the PaymentIntent will be made of. _public() hides it.
            "_payment_intent_data": pi_data,
        }
        for item in items:
            item["id"] = f"li_{_rand(24)}"
            item["price"]["id"] = f"price_{_rand(24)}"
        self._line_items[session_id] = items
        return self._store(session, ctx.owner)

    def _line_item(self, raw: Any, i: int) -> dict:
        prefix = f"line_items[{i}]"
        item = _as_dict(raw, prefix)
        _check_known(item, _LINE_ITEM_PARAMS, prefix)
        quantity = _as_int(item.get("quantity"), f"{prefix}[quantity]", minimum=1, required=True)
        assert quantity is not None
        if item.get("price"):
            raise _no_such("price", str(item["price"]), param=f"{prefix}[price]", status=400)
        price_data = _as_dict(item.get("price_data"), f"{prefix}[price_data]")
        if not price_data:
            raise StripeAPIError(
                400,
                f"You must specify either `price` or `price_data` in {prefix}.",
                code="parameter_missing",
                param=f"{prefix}[price_data]",
            )
        pprefix = f"{prefix}[price_data]"
        _check_known(price_data, _PRICE_DATA_PARAMS, pprefix)
        currency = _as_currency(price_data.get("currency"), f"{pprefix}[currency]")
        unit_amount = _as_int(price_data.get("unit_amount"), f"{pprefix}[unit_amount]", minimum=0)
        if unit_amount is None:
            decimal = price_data.get("unit_amount_decimal")
            if decimal in (None, ""):
                raise _missing(f"{pprefix}[unit_amount]")
            try:
                unit_decimal = Decimal(str(decimal))
            except InvalidOperation:
                raise StripeAPIError(
                    400,
                    f"Invalid decimal: {decimal}",
                    code="parameter_invalid",
                    param=f"{pprefix}[unit_amount_decimal]",
                ) from None
            if unit_decimal < 0:
                raise StripeAPIError(
                    400,
                    "This value must be greater than or equal to 0.",
                    code="parameter_invalid",
                    param=f"{pprefix}[unit_amount_decimal]",
                )
            total = int((unit_decimal * quantity).to_integral_value())
        else:
            total = unit_amount * quantity
        if price_data.get("recurring"):
            raise StripeAPIError(
                400,
                "You must be in subscription mode to specify a recurring price.",
                code="parameter_invalid",
                param=f"{pprefix}[recurring]",
            )
        product_data = _as_dict(price_data.get("product_data"), f"{pprefix}[product_data]")
        if price_data.get("product"):
            raise _no_such(
                "product", str(price_data["product"]), param=f"{pprefix}[product]", status=400
            )
        if not product_data:
            raise _missing(f"{pprefix}[product_data]")
        _check_known(product_data, _PRODUCT_DATA_PARAMS, f"{pprefix}[product_data]")
        name = _as_str(
            product_data.get("name"), f"{pprefix}[product_data][name]", required=True, max_len=250
        )
        _as_metadata(product_data.get("metadata"), f"{pprefix}[product_data][metadata]")
        return {
            "id": None,
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": total,
            "amount_tax": 0,
            "amount_total": total,
            "currency": currency,
            "description": name,
            "discounts": [],
            "price": {
                "id": None,
                "object": "price",
                "active": False,
                "billing_scheme": "per_unit",
                "created": _now(),
                "currency": currency,
                "custom_unit_amount": None,
                "livemode": False,
                "lookup_key": None,
                "metadata": {},
                "nickname": None,
                "product": f"prod_{_rand(14)}",
                "recurring": None,
                "tax_behavior": price_data.get("tax_behavior") or "unspecified",
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "one_time",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(
                    unit_amount if unit_amount is not None else price_data["unit_amount_decimal"]
                ),
            },
            "quantity": quantity,
        }

    def _payment_intent_data(self, ctx: _Ctx, amount_total: int) -> dict:
        raw = _as_dict(ctx.params.get("payment_intent_data"), "payment_intent_data")
        _check_known(raw, _PI_DATA_PARAMS, "payment_intent_data")
        out: dict[str, Any] = {
            "metadata": _as_metadata(raw.get("metadata"), "payment_intent_data[metadata]")
        }
        fee = _as_int(
            raw.get("application_fee_amount"),
            "payment_intent_data[application_fee_amount]",
            minimum=0,
        )
        capture = raw.get("capture_method") or None
        if capture not in (None, "automatic", "automatic_async"):
            raise StripeAPIError(
                400,
                "The Stripe stand-in implements automatic capture only.",
                code="parameter_invalid",
                param="payment_intent_data[capture_method]",
            )
        out["capture_method"] = capture
        transfer_raw = _as_dict(raw.get("transfer_data"), "payment_intent_data[transfer_data]")
        _check_known(
            transfer_raw, frozenset({"amount", "destination"}), "payment_intent_data[transfer_data]"
        )
        transfer_data = None
        if transfer_raw:
            param = "payment_intent_data[transfer_data][destination]"
            destination = _as_str(transfer_raw.get("destination"), param, required=True)
            assert destination is not None
            acct = self._account(destination)
            if (
                acct is None
                or destination == self.platform_account_id
                or destination in self._deauthorized
            ):
                raise _no_such("destination", destination, param=param, status=400)
            if acct["capabilities"].get("transfers") != "active":
                # https://docs.stripe.com/connect/destination-charges: the
                # destination needs the transfers capability.
                raise StripeAPIError(
                    400,
                    "Your destination account needs to have at least one of the following "
                    "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                    code="insufficient_capabilities_for_transfer",
                    param=param,
                )
            if ctx.owner is not None:
                raise StripeAPIError(
                    400,
                    "transfer_data cannot be used on a direct charge (Stripe-Account).",
                    code="parameter_invalid",
                    param=param,
                )
            transfer_data = {"destination": destination}
            t_amount = _as_int(
                transfer_raw.get("amount"), "payment_intent_data[transfer_data][amount]", minimum=0
            )
            if t_amount is not None:
                if fee is not None:
                    raise StripeAPIError(
                        400,
                        "You may only specify one of these parameters: "
                        "application_fee_amount, transfer_data[amount].",
                        code="parameter_invalid",
                        param="payment_intent_data[transfer_data][amount]",
                    )
                transfer_data["amount"] = t_amount
        if fee is not None:
            if transfer_data is None and ctx.owner is None:
                raise StripeAPIError(
                    400,
                    "Can only apply an application_fee_amount when the PaymentIntent is "
                    "attempting a direct payment (using an OAuth key or Stripe-Account header) "
                    "or destination payment (using `transfer_data[destination]`).",
                    code="parameter_invalid",
                    param="payment_intent_data[application_fee_amount]",
                )
            if fee > amount_total:
                raise StripeAPIError(
                    400,
                    "The application fee cannot be greater than the amount of the payment.",
                    code="parameter_invalid",
                    param="payment_intent_data[application_fee_amount]",
                )
        out["application_fee_amount"] = fee
        out["transfer_data"] = transfer_data
        on_behalf_of = _as_str(raw.get("on_behalf_of"), "payment_intent_data[on_behalf_of]")
        if on_behalf_of is not None and self._account(on_behalf_of) is None:
            raise _no_such(
                "account", on_behalf_of, param="payment_intent_data[on_behalf_of]", status=400
            )
        out["on_behalf_of"] = on_behalf_of
        for key in (
            "description",
            "receipt_email",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "transfer_group",
        ):
            out[key] = _as_str(raw.get(key), f"payment_intent_data[{key}]")
        return out

    def _api_expire_session(self, ctx: _Ctx, match: re.Match) -> dict:
        session = self._lookup("checkout.session", match.group(1), ctx.owner)
        if session["status"] != "open":
            raise StripeAPIError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
                param="session",
            )
        ctx.events.append(
            self._expire_session(
                session, request_id=ctx.request_id, idempotency_key=ctx.idempotency_key
            )
        )
        return session

    def _api_create_refund(self, ctx: _Ctx, match: re.Match | None) -> dict:
        p = ctx.params
        _check_known(p, _REFUND_PARAMS)
        pi_id = _as_str(p.get("payment_intent"), "payment_intent")
        charge_id = _as_str(p.get("charge"), "charge")
        if not pi_id and not charge_id:
            raise StripeAPIError(
                400,
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        if pi_id:
            pi = self._lookup(
                "payment_intent", pi_id, ctx.owner, param="payment_intent", status=400
            )
            if pi["status"] != "succeeded" or not pi.get("latest_charge"):
                raise StripeAPIError(
                    400,
                    f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                    code="charge_not_refundable",
                    param="payment_intent",
                )
            if charge_id and charge_id != pi["latest_charge"]:
                raise StripeAPIError(
                    400,
                    "The charge does not belong to the given payment_intent.",
                    code="parameter_invalid",
                    param="charge",
                )
            charge_id = pi["latest_charge"]
        assert charge_id is not None
        charge = self._lookup("charge", charge_id, ctx.owner, param="charge", status=400)
        amount = _as_int(p.get("amount"), "amount", minimum=1)
        reason = p.get("reason") or None
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise StripeAPIError(
                400,
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                code="parameter_invalid",
                param="reason",
            )
        return self._refund(
            ctx,
            charge,
            amount,
            metadata=_as_metadata(p.get("metadata")),
            reason=reason,
            reverse_transfer=bool(_as_bool(p.get("reverse_transfer"), "reverse_transfer")),
        )

    def _api_create_customer(self, ctx: _Ctx, match: re.Match) -> dict:
        p = ctx.params
        _check_known(p, _CUSTOMER_PARAMS)
        customer = _customer_object(
            self._new_id("cus"),
            email=_as_str(p.get("email"), "email", max_len=512),
            name=_as_str(p.get("name"), "name", max_len=256),
            phone=_as_str(p.get("phone"), "phone", max_len=20),
            description=_as_str(p.get("description"), "description"),
            metadata=_as_metadata(p.get("metadata")),
        )
        return self._store(customer, ctx.owner)

    def _api_create_account(self, ctx: _Ctx, match: re.Match) -> dict:
        p = ctx.params
        _check_known(p, _ACCOUNT_PARAMS)
        if ctx.owner is not None:
            raise StripeAPIError(
                400, "Connected accounts cannot create accounts.", code="parameter_invalid"
            )
        kind = p.get("type") or "express"
        if kind not in ("express", "standard", "custom"):
            raise StripeAPIError(
                400, f"Invalid type: {kind}", code="parameter_invalid", param="type"
            )
        profile = _as_dict(p.get("business_profile"), "business_profile")
        acct = self._new_account_object(
            self._new_id("acct"),
            type_=kind,
            email=_as_str(p.get("email"), "email"),
            country=(p.get("country") or "US").upper(),
            business_name=profile.get("name"),
            metadata=_as_metadata(p.get("metadata")),
            default_currency=(p.get("default_currency") or "usd").lower(),
        )
        return self._store(acct, None)

    def _api_get_account(self, ctx: _Ctx, match: re.Match) -> dict:
        acct = self._account(match.group(1))
        # The platform reads its connected accounts (and itself); a connected
        # account can read only itself. Always the current state: the platform
        # re-reads it on account.updated because events arrive in any order
        # (https://docs.stripe.com/webhooks#event-ordering).
        if acct is None or (ctx.owner is not None and acct["id"] != ctx.owner):
            raise _no_such("account", match.group(1), param="account")
        if acct["id"] in self._deauthorized:
            self._resolve_owner(acct["id"])  # raises account_invalid
        return acct

    def _api_get_own_account(self, ctx: _Ctx, match: re.Match) -> dict:
        acct = self._account(ctx.owner or self.platform_account_id)
        assert acct is not None
        return acct

    def _api_create_account_link(self, ctx: _Ctx, match: re.Match) -> dict:
        p = ctx.params
        _check_known(
            p,
            frozenset(
                "account collect collection_options expand refresh_url return_url type".split()
            ),
        )
        account_id = _as_str(p.get("account"), "account", required=True)
        assert account_id is not None
        if self._account(account_id) is None or account_id == self.platform_account_id:
            raise _no_such("account", account_id, param="account", status=400)
        kind = _as_str(p.get("type"), "type", required=True)
        if kind not in ("account_onboarding", "account_update"):
            raise StripeAPIError(
                400, f"Invalid type: {kind}", code="parameter_invalid", param="type"
            )
        token = _rand(24)
        self._account_links[token] = {
            "account": account_id,
            "return_url": _as_str(p.get("return_url"), "return_url"),
            "refresh_url": _as_str(p.get("refresh_url"), "refresh_url"),
        }
        return {
            "object": "account_link",
            "created": _now(),
            "expires_at": _now() + 300,
            "url": f"{self.base_url}/connect/onboard/{token}",
        }

    # -- HTTP: hosted pages --------------------------------------------------

    def _handle_page(self, method: str, path: str, form: dict) -> tuple[int, str, dict]:
        """Hosted checkout and onboarding pages: (status, html, headers)."""
        m = re.fullmatch(r"/pay/([^/]+)", path)
        if m and method == "GET":
            return self._checkout_page(m.group(1))
        m = re.fullmatch(r"/pay/([^/]+)/(complete|cancel|settle)", path)
        if m and method == "POST":
            session_id, action = m.groups()
            try:
                if action == "complete":
                    self.pay(
                        session_id,
                        async_payment=form.get("method") == "delayed",
                        email=form.get("email") or None,
                    )
                    target = self.get(session_id)["success_url"]  # type: ignore[index]
                elif action == "cancel":
                    target = self.cancel(session_id)
                else:
                    if form.get("outcome") == "fail":
                        self.async_fail(session_id)
                    else:
                        self.async_succeed(session_id)
                    target = f"/pay/{session_id}"
            except StandinError as exc:
                return 409, _page("Checkout", f"<p>{html.escape(str(exc))}</p>"), {}
            if not target:
                return 200, _page("Checkout", "<p>Done. You can close this page.</p>"), {}
            target = target.replace("{CHECKOUT_SESSION_ID}", session_id)
            return 303, "", {"Location": target}
        m = re.fullmatch(r"/connect/onboard/([^/]+)(/complete)?", path)
        if m:
            with self._lock:
                link = self._account_links.get(m.group(1))
            if link is None:
                return 404, _page("Onboarding", "<p>This link has expired.</p>"), {}
            if method == "GET" and not m.group(2):
                body = (
                    f"<p>Connected account <code>{html.escape(link['account'])}</code></p>"
                    f'<form method="post" action="/connect/onboard/{m.group(1)}/complete">'
                    '<button type="submit">Complete onboarding</button></form>'
                )
                return 200, _page("Stripe onboarding", body), {}
            if method == "POST" and m.group(2):
                self.update_account(link["account"], charges_enabled=True)
                if link["return_url"]:
                    return 303, "", {"Location": link["return_url"]}
                return 200, _page("Onboarding", "<p>Onboarding complete.</p>"), {}
        return 404, _page("Not found", "<p>Not found.</p>"), {}

    def _checkout_page(self, session_id: str) -> tuple[int, str, dict]:
        with self._lock:
            session = self._objects.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                return 404, _page("Checkout", "<p>No such checkout session.</p>"), {}
            session = copy.deepcopy(session)
            items = copy.deepcopy(self._line_items.get(session_id, []))
            pi = self.get(session.get("payment_intent") or "")
        cur = session["currency"]
        rows = "".join(
            f"<tr><td>{html.escape(item['description'])}</td><td>{item['quantity']}</td>"
            f"<td>{_format_amount(item['amount_total'], cur)}</td></tr>"
            for item in items
        )
        sid = html.escape(session_id)
        parts = [
            "<table><thead><tr><th>Item</th><th>Qty</th><th>Amount</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>",
            f'<p>Total: <strong id="total">{_format_amount(session["amount_total"], cur)}'
            "</strong></p>",
        ]
        lapsed = session["expires_at"] <= _now()
        if session["status"] == "open" and not lapsed:
            email = html.escape(session.get("customer_email") or "buyer@example.com")
            parts.append(
                f'<form method="post" action="/pay/{sid}/complete">'
                f'<label>Email <input type="email" name="email" value="{email}"></label> '
                '<button type="submit" name="method" value="card" id="pay">Pay</button> '
                '<button type="submit" name="method" value="delayed" id="pay-delayed">'
                "Pay by bank debit (settles later)</button></form>"
                f'<form method="post" action="/pay/{sid}/cancel">'
                '<button type="submit" id="cancel">Cancel</button></form>'
            )
        elif pi is not None and pi["status"] == "processing":
            parts.append(
                "<p>Payment processing.</p>"
                f'<form method="post" action="/pay/{sid}/settle">'
                '<button type="submit" name="outcome" value="succeed">Payment settles</button> '
                '<button type="submit" name="outcome" value="fail">Payment fails</button></form>'
            )
        else:
            state = "expired" if lapsed and session["status"] == "open" else session["status"]
            parts.append(
                f"<p>This checkout session is {html.escape(state)} "
                f"(payment {html.escape(session['payment_status'])}).</p>"
            )
        return 200, _page("Checkout (Stripe stand-in)", "".join(parts)), {}


# ---------------------------------------------------------------------------
# Object helpers
# ---------------------------------------------------------------------------

# https://docs.stripe.com/api/disputes/object#dispute_object-evidence
_DISPUTE_EVIDENCE_FIELDS = """access_activity_log billing_address cancellation_policy
cancellation_policy_disclosure cancellation_rebuttal customer_communication
customer_email_address customer_name customer_purchase_ip customer_signature
duplicate_charge_documentation duplicate_charge_explanation duplicate_charge_id
product_description receipt refund_policy refund_policy_disclosure
refund_refusal_explanation service_date service_documentation shipping_address
shipping_carrier shipping_date shipping_documentation shipping_tracking_number
uncategorized_file uncategorized_text""".split()


def _public(obj: dict) -> dict:
    """The object as the API shows it (private ``_`` keys removed)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


def _requirements(enabled: bool) -> dict:
    due = [] if enabled else ["external_account", "tos_acceptance.date"]
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": None if enabled else "requirements.past_due",
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


def _customer_object(
    customer_id: str,
    *,
    email: str | None = None,
    name: str | None = None,
    phone: str | None = None,
    description: str | None = None,
    metadata: dict | None = None,
) -> dict:
    return {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": _now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "invoice_prefix": _rand(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(metadata or {}),
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def _default_fault(status: int) -> dict:
    if status == 402:
        return {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
        }
    if status == 429:
        return {
            "type": "invalid_request_error",
            "code": "rate_limit",
            "message": "Too many requests hit the API too quickly.",
        }
    if status == 401:
        return {"type": "invalid_request_error", "message": "Invalid API Key provided."}
    if status == 403:
        return {
            "type": "invalid_request_error",
            "message": "The provided key does not have the required permissions.",
        }
    if status in (400, 404):
        return {"type": "invalid_request_error", "message": "Injected invalid request."}
    return {
        "type": "api_error",
        "message": "An unknown error occurred while processing this request.",
    }


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:36em;margin:2em auto}"
        "td,th{padding:.2em .8em;text-align:left}button{margin:.5em .2em}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}"
        "<p><small>Stripe stand-in &mdash; no real money moves.</small></p></body></html>"
    )


# ---------------------------------------------------------------------------
# HTTP plumbing
# ---------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    # Request threads are joined on server_close() so that stop() leaves no
    # thread behind (hung requests are released first).
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    standin: StripeStandin


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers
    timeout = 30  # seconds a client may take to send its request
    server_version = "stripe-standin/1.0"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is logged by _serve instead

    def _serve(self, method: str) -> None:
        standin = self.server.standin
        started = time.monotonic()
        split = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        status: int | None
        try:
            if split.path.startswith("/v1/"):
                params = decode_form(split.query)
                if method == "POST":
                    params.update(decode_form(body))
                headers = {_canonical_header(k): v for k, v in self.headers.items()}
                status, payload, extra = standin._handle_api(method, split.path, params, headers)
                if status is None:
                    self.close_connection = True
                    return
                self._respond(status, json.dumps(payload, indent=2), "application/json", extra)
            else:
                form = {k: v for k, v in urllib.parse.parse_qsl(body)}
                status, page, extra = standin._handle_page(method, split.path, form)
                self._respond(status, page, "text/html; charset=utf-8", extra)
        except (BrokenPipeError, ConnectionResetError):
            status = 0  # the client gave up (e.g. its timeout fired first)
        except Exception:  # answer 500 like Stripe, keep serving
            log.exception("stand-in failed on %s %s", method, self.path)
            status = 500
            try:
                self._respond(
                    500, json.dumps({"error": _default_fault(500)}), "application/json", {}
                )
            except OSError:
                pass
        if standin.log_requests:
            log.info(
                "%s %s -> %s (%.0f ms)",
                method,
                split.path,
                status,
                (time.monotonic() - started) * 1000,
            )

    def _respond(self, status: int, text: str, content_type: str, headers: dict) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)


# ---------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.stripe_standin",
        description="Serve a loopback stand-in for Stripe's API, hosted checkout and webhooks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument("--connect-webhook-url")
    parser.add_argument("--connect-webhook-secret")
    parser.add_argument(
        "--sweep-interval",
        type=float,
        default=5.0,
        help="seconds between lapse sweeps of expired checkout sessions",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s stripe-standin %(message)s")
    standin = StripeStandin(api_key=args.api_key, host=args.host, port=args.port, log_requests=True)
    try:
        standin.configure_webhooks(
            url=args.webhook_url,
            secret=args.webhook_secret,
            connect_url=args.connect_webhook_url,
            connect_secret=args.connect_webhook_secret,
        )
    except ValueError as exc:
        parser.error(str(exc))
    base = standin.start(sweep_interval=args.sweep_interval)
    log.info("listening on %s (platform account %s)", base, standin.platform_account_id)

    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    done.wait()
    log.info("shutting down")
    standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
