"""Serving one API request the way Stripe's idempotency layer does
(https://docs.stripe.com/api/idempotent_requests), with fault injection."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass

from ._common import StripeAPIError, _Ctx, _default_fault, _Fault, _now, _rand

# Stripe keeps an idempotency key's first result for 24 hours: "Keys are
# eligible to be removed from the system automatically after they're at least
# 24 hours old" (https://docs.stripe.com/api/idempotent_requests).
IDEMPOTENCY_KEY_TTL = 24 * 60 * 60


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


class IdempotentRequests:
    """Part of :class:`StripeStandin` (state and lock live there)."""

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
                    if not getattr(exc, "ran", False):
                        # Validation failures: the endpoint did not run, nothing is saved.
                        return exc.status, {"error": exc.body}, extra
                    # A card declined: the PaymentIntent exists, its events are
                    # sent and the 402 is kept under the key.
                    status, body = exc.status, {"error": exc.body}
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
