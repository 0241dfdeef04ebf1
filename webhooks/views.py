"""The Stripe webhook endpoint.

dj-stripe provides the endpoint records (WebhookEndpoint: secret, uuid,
tolerance), the raw delivery log (WebhookEventTrigger) and the signature
check; this view strings them together like dj-stripe's own view, with one
difference that the contract needs: OUR processing runs first, in its own
transaction, and decides the answer (5xx so Stripe retries; a retry is
processed again). dj-stripe's mirror of the event (its Event model and the
objects it syncs from Stripe's API) runs afterwards, best effort, so a
failure there can neither lose nor block a booking.
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from djstripe.models import WebhookEndpoint, WebhookEventTrigger
from djstripe.models.webhooks import get_remote_ip
from djstripe.settings import djstripe_settings

from config.errors import error_body
from webhooks.services import error_summary, stripe_event_process, stripe_event_record_failure

logger = logging.getLogger("altar.webhooks")


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


@method_decorator(csrf_exempt, name="dispatch")
class StripeWebhookView(View):
    http_method_names = ["post"]

    def post(self, request: HttpRequest, uuid) -> JsonResponse:
        if "Stripe-Signature" not in request.headers:
            return _error(400, "signature_missing", "Stripe-Signature header missing.")
        endpoint = WebhookEndpoint.objects.filter(djstripe_uuid=uuid).first()
        if endpoint is None:
            return _error(404, "not_found", "Unknown webhook endpoint.")

        trigger = WebhookEventTrigger.objects.create(
            headers=dict(request.headers),
            body=request.body.decode(request.encoding or "utf-8", errors="replace"),
            remote_ip=get_remote_ip(request),
            stripe_trigger_account=endpoint.djstripe_owner_account,
            webhook_endpoint=endpoint,
        )
        api_key = djstripe_settings.get_default_api_key(endpoint.livemode)
        try:
            trigger.valid = trigger.validate(secret=endpoint.secret, api_key=api_key)
        except ValueError:  # malformed signature header or body
            trigger.valid = False
        if not trigger.valid:
            trigger.save(update_fields=["valid"])
            return _error(400, "signature_invalid", "Signature, timestamp or body is invalid.")

        event = trigger.json_body
        try:
            result = stripe_event_process(event=event)
        except Exception as exc:  # noqa: BLE001 - any failure must become a 5xx and a record
            stripe_event_record_failure(event=event, exc=exc)
            error_type, message = error_summary(exc)
            trigger.exception = f"{error_type}: {message}"[:128]
            trigger.save(update_fields=["valid", "exception"])
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
