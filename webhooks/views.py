"""The Stripe webhook endpoint.

dj-stripe provides the endpoint records (WebhookEndpoint: secret, uuid,
tolerance) and the raw delivery log (WebhookEventTrigger); this view strings
them together like dj-stripe's own view, with differences the contract needs:

- the signature is verified first, against the endpoint's secret only, with
  Stripe's library. dj-stripe's `WebhookEventTrigger.validate()` is never
  called: with DEBUG on it lets the sender pick the secret through an
  `X-Djstripe-Webhook-Secret` header (djstripe/models/webhooks.py, 2.11), so
  anyone could sign their own events. dj-stripe's own webhook URL is not
  mounted either;
- only then is anything stored, and a delivery that fails verification is
  logged in a capped form (first INVALID_BODY_MAX_CHARS of the body, a few
  named headers), so junk posted at the endpoint cannot fill the database;
- the sender's address comes from the socket per NUM_PROXIES (the per-IP
  throttle's rule), never from a raw X-Forwarded-For;
- our processing, in its own transaction, decides the answer (5xx so
  Stripe retries; a retry is processed again). dj-stripe's mirror of the
  event (its Event model and the objects it syncs from Stripe's API) is not
  run: nothing reads those copies, and it cost about 40 % of a webhook's
  CPU plus Stripe API calls inside a transaction;
- a redelivery of an event already done is answered from one indexed read
  (the endpoint and the event's status in one query), nothing written.
"""

from __future__ import annotations

import json
import logging

import stripe
from django.db.models import Subquery
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from djstripe.models import WebhookEndpoint, WebhookEventTrigger

from config.errors import error_body
from tenants.api.throttling import client_address
from tenants.scoping import scopes_disabled
from webhooks.models import StripeEvent
from webhooks.services import error_summary, stripe_event_process, stripe_event_record_failure

logger = logging.getLogger("altar.webhooks")

# What a delivery that fails verification may leave behind.
INVALID_BODY_MAX_CHARS = 2048
# The headers kept with a delivery (Stripe sends these; anything else a
# sender adds - cookies, tokens, a secret header - is not stored).
KEPT_HEADERS = ("Content-Type", "Content-Length", "User-Agent", "Stripe-Signature")
HEADER_MAX_CHARS = 512


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def _kept_headers(request: HttpRequest) -> dict[str, str]:
    return {
        name: request.headers[name][:HEADER_MAX_CHARS]
        for name in KEPT_HEADERS
        if name in request.headers
    }


def _signature_valid(payload: bytes, header: str, endpoint: WebhookEndpoint) -> bool:
    """Stripe's own check (HMAC-SHA256 of "t.payload", timestamp within the
    endpoint's tolerance) against the endpoint's secret and nothing else."""
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), header, endpoint.secret, endpoint.djstripe_tolerance
        )
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError):
        return False
    return True


def _parsed_event(payload: bytes) -> dict:
    """The body as an event (a JSON object with a string id), else {}. Parsed
    before the signature is checked only to look the event's row up in the
    same query as the endpoint; nothing is trusted until it is verified."""
    try:
        event = json.loads(payload)
    except ValueError:
        return {}
    if not isinstance(event, dict) or not isinstance(event.get("id"), str):
        return {}
    return event


@method_decorator(csrf_exempt, name="dispatch")
class StripeWebhookView(View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, uuid) -> JsonResponse:
        if "Stripe-Signature" not in request.headers:
            return _error(400, "signature_missing", "Stripe-Signature header missing.")
        payload = request.body
        event = _parsed_event(payload)
        # One indexed read: the endpoint, and the status of the event the
        # body claims (a duplicate delivery is answered from it alone).
        with scopes_disabled():
            event_status = StripeEvent.objects.filter(event_id=event.get("id", "")).values(
                "status"
            )[:1]
            endpoint = (
                WebhookEndpoint.objects.filter(djstripe_uuid=uuid)
                .annotate(event_status=Subquery(event_status))
                .first()
            )
        if endpoint is None:
            return _error(404, "not_found", "Unknown webhook endpoint.")

        valid = bool(event) and _signature_valid(
            payload, request.headers["Stripe-Signature"], endpoint
        )
        if valid and endpoint.event_status in StripeEvent.DONE_STATUSES:
            # Nothing to apply and nothing new to log: the StripeEvent row
            # records the event, the access log this delivery.
            return _answer(event["id"], endpoint.event_status, duplicate=True)

        body = payload.decode("utf-8", errors="replace")
        trigger = WebhookEventTrigger(
            headers=_kept_headers(request),
            body=body if valid else body[:INVALID_BODY_MAX_CHARS],
            remote_ip=client_address(request),
            stripe_trigger_account=endpoint.djstripe_owner_account,
            webhook_endpoint=endpoint,
            valid=valid,
        )
        if not valid:
            trigger.save()
            return _error(400, "signature_invalid", "Signature, timestamp or body is invalid.")

        try:
            result = stripe_event_process(event=event, known_not_done=True)
        except Exception as exc:  # noqa: BLE001 - any failure must become a 5xx and a record
            stripe_event_record_failure(event=event, exc=exc)
            error_type, message = error_summary(exc)
            trigger.exception = f"{error_type}: {message}"[:128]
            trigger.save()
            return _error(500, "webhook_processing_failed", "Processing failed; Stripe will retry.")
        # The delivery log: one row per delivery that reached processing
        # (dj-stripe's mirror of the event is not kept: nothing reads it).
        trigger.processed = True
        trigger.save()
        return _answer(result.event.event_id, result.event.status, duplicate=result.duplicate)


def _answer(event_id: str, status: str, *, duplicate: bool) -> JsonResponse:
    return JsonResponse(
        {"received": True, "event": event_id, "status": status, "duplicate": duplicate}
    )
