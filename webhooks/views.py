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
- OUR processing runs first, in its own transaction, and decides the answer
  (5xx so Stripe retries; a retry is processed again). dj-stripe's mirror of
  the event (its Event model and the objects it syncs from Stripe's API)
  runs afterwards, best effort, so a failure there can neither lose nor
  block a booking.
"""

from __future__ import annotations

import logging

import stripe
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from djstripe.models import WebhookEndpoint, WebhookEventTrigger
from djstripe.settings import djstripe_settings

from config.errors import error_body
from tenants.api.throttling import client_address
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


@method_decorator(csrf_exempt, name="dispatch")
class StripeWebhookView(View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, uuid) -> JsonResponse:
        if "Stripe-Signature" not in request.headers:
            return _error(400, "signature_missing", "Stripe-Signature header missing.")
        endpoint = WebhookEndpoint.objects.filter(djstripe_uuid=uuid).first()
        if endpoint is None:
            return _error(404, "not_found", "Unknown webhook endpoint.")

        payload = request.body
        valid = _signature_valid(payload, request.headers["Stripe-Signature"], endpoint)
        body = payload.decode("utf-8", errors="replace")
        trigger = WebhookEventTrigger(
            headers=_kept_headers(request),
            body=body if valid else body[:INVALID_BODY_MAX_CHARS],
            remote_ip=client_address(request),
            stripe_trigger_account=endpoint.djstripe_owner_account,
            webhook_endpoint=endpoint,
            valid=valid,
        )
        event = trigger.json_body if valid else {}
        if not isinstance(event, dict) or not isinstance(event.get("id"), str):
            valid = trigger.valid = False
        trigger.save()
        if not valid:
            return _error(400, "signature_invalid", "Signature, timestamp or body is invalid.")

        api_key = djstripe_settings.get_default_api_key(endpoint.livemode)
        try:
            result = stripe_event_process(event=event)
        except Exception as exc:  # noqa: BLE001 - any failure must become a 5xx and a record
            stripe_event_record_failure(event=event, exc=exc)
            error_type, message = error_summary(exc)
            trigger.exception = f"{error_type}: {message}"[:128]
            trigger.save(update_fields=["exception"])
            return _error(500, "webhook_processing_failed", "Processing failed; Stripe will retry.")

        if not result.duplicate:
            self._mirror_in_djstripe(trigger, api_key)
        trigger.save()
        return JsonResponse(
            {
                "received": True,
                "event": result.event.event_id,
                "status": result.event.status,
                "duplicate": result.duplicate,
            }
        )

    @staticmethod
    def _mirror_in_djstripe(trigger: WebhookEventTrigger, api_key: str) -> None:
        try:
            with transaction.atomic():
                trigger.process(save=False, api_key=api_key)
        except Exception as exc:  # noqa: BLE001 - the mirror is best effort by design
            error_type, _message = error_summary(exc)
            logger.warning(
                "dj-stripe could not mirror %s: %s", trigger.json_body.get("id"), error_type
            )
            trigger.exception = f"dj-stripe sync: {error_type}"[:128]
