"""Events and webhook delivery: Stripe-shaped events, signed like Stripe's
(https://docs.stripe.com/webhooks#verify-events), delivered to the platform
and Connect endpoints."""

from __future__ import annotations

import copy
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from ._common import Delivery, StandinError, _now, log, sign_payload


class Events:
    """Part of :class:`StripeStandin` (state and lock live there)."""

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
