"""Shared by every part of the stand-in: constants, Stripe's wire format
(form decoding, webhook signatures), Stripe-shaped errors and parameter
coercion, and the records handed to tests."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import string
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

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


def _created_bounds(value: Any) -> list:
    """Tests for a list endpoint's ``created`` filter: an exact Unix time, or
    a hash of ``gt``/``gte``/``lt``/``lte`` (Stripe's range filter)."""
    if value is None or value == "":
        return []
    if not isinstance(value, dict):
        exact = _as_int(value, "created")
        return [lambda created: created == exact]
    _check_known(value, frozenset({"gt", "gte", "lt", "lte"}), "created")
    compare = {
        "gt": lambda a, b: a > b,
        "gte": lambda a, b: a >= b,
        "lt": lambda a, b: a < b,
        "lte": lambda a, b: a <= b,
    }
    tests = []
    for op, raw in value.items():
        bound = _as_int(raw, f"created[{op}]")
        if bound is not None:
            tests.append(lambda created, op=op, bound=bound: compare[op](created, bound))
    return tests


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
class _Ctx:
    """What a route handler knows about the request it serves."""

    method: str
    path: str
    params: dict
    owner: str | None  # connected account id from Stripe-Account, None = platform
    request_id: str
    idempotency_key: str | None
    events: list = field(default_factory=list)  # events this request emitted


def _public(obj: dict) -> dict:
    """The object as the API shows it (private ``_`` keys removed)."""
    return {k: v for k, v in obj.items() if not k.startswith("_")}


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
