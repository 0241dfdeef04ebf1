"""The stand-in itself: lifecycle, object store, inspection, API dispatch."""

from __future__ import annotations

import base64
import copy
import hmac
import logging
import re
import threading
from collections import deque
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from typing import Any

from ._common import (
    API_VERSION,
    DEFAULT_API_KEY,
    Delivery,
    Exchange,
    RecordedRequest,
    StripeAPIError,
    _as_int,
    _as_str,
    _created_bounds,
    _Ctx,
    _Fault,
    _no_such,
    _public,
    _rand,
)
from .accounts import Accounts
from .application_fees import ApplicationFees
from .checkout_sessions import CheckoutSessions
from .customers import Customers
from .disputes import Disputes
from .events import Events
from .hosted_pages import HostedPages
from .idempotency import IdempotentRequests, _IdempotentResult
from .payment_intents import OffSessionPayments, PaymentIntents
from .refunds import Refunds
from .server import _Server

log = logging.getLogger("stripe_standin")


class StripeStandin(
    IdempotentRequests,
    Events,
    Accounts,
    Customers,
    PaymentIntents,
    ApplicationFees,
    OffSessionPayments,
    CheckoutSessions,
    Refunds,
    Disputes,
    HostedPages,
):
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

    def _reset_state(self) -> None:
        self._objects: dict[str, dict] = {}
        self._owners: dict[str, str | None] = {}
        # Creation order of every object: ties within one second in lists.
        self._seq: dict[str, int] = {}
        # Ids by `object` kind, so a list endpoint reads only its own kind.
        self._kinds: dict[str, list[str]] = {}
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

    def start(self, sweep_interval: float | None = None) -> str:
        """Serve in background threads; returns the base URL.

        ``sweep_interval``: run :meth:`expire_due` that often (seconds). Tests
        leave it off and call ``expire_due`` themselves.
        """
        if self._server is not None:
            raise RuntimeError("already started")
        self._stopping.clear()
        server = _Server((self.host, self.port), self)
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
        if obj["id"] not in self._seq:
            self._seq[obj["id"]] = len(self._seq)
            self._kinds.setdefault(obj.get("object", ""), []).append(obj["id"])
        self._objects[obj["id"]] = obj
        self._owners[obj["id"]] = owner
        return obj

    def _listed(self, object_name: str, owner: str | None, p: dict, **filters: str) -> list[dict]:
        """The caller's account's objects of one kind, for a list endpoint:
        ``filters`` are the request's own id filters (param name -> field, e.g.
        ``payment_intent="payment_intent"``) and ``created`` is Stripe's
        range filter (an exact timestamp, or ``created[gt|gte|lt|lte]``:
        https://docs.stripe.com/api/charges/list#list_charges-created)."""
        wanted = {
            field: value
            for param, field in filters.items()
            if (value := _as_str(p.get(param), param)) is not None
        }
        bounds = _created_bounds(p.get("created"))
        found = (self._objects.get(oid) for oid in self._kinds.get(object_name, ()))
        return [
            obj
            for obj in found
            if obj is not None
            and obj.get("object") == object_name
            and self._owners[obj["id"]] == owner
            and all(obj.get(field) == value for field, value in wanted.items())
            and all(test(obj["created"]) for test in bounds)
        ]

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

    def _list_page(self, items: list[dict], url: str, p: dict) -> dict:
        # Newest first; ids break ties within one second in creation order.
        order = self._seq
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
            ("POST", r(r"/v1/payment_intents"), self._api_create_payment_intent),
            ("GET", r(r"/v1/payment_intents"), self._api_list_payment_intents),
            ("GET", r(r"/v1/payment_intents/([^/]+)"), self._api_get("payment_intent")),
            ("GET", r(r"/v1/payment_methods/([^/]+)"), self._api_get("payment_method")),
            ("GET", r(r"/v1/charges"), self._api_list_charges),
            ("GET", r(r"/v1/charges/([^/]+)"), self._api_get("charge")),
            ("GET", r(r"/v1/application_fees"), self._api_list_application_fees),
            ("GET", r(r"/v1/application_fees/([^/]+)"), self._api_get("application_fee")),
            ("GET", r(r"/v1/balance_transactions/([^/]+)"), self._api_get("balance_transaction")),
            ("GET", r(r"/v1/transfers/([^/]+)"), self._api_get("transfer")),
            ("GET", r(r"/v1/disputes"), self._api_list_disputes),
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

    def _api_get(self, object_name: str) -> Callable[[_Ctx, re.Match], dict]:
        def handler(ctx: _Ctx, match: re.Match) -> dict:
            return self._lookup(object_name, match.group(1), ctx.owner)

        return handler
