"""Record a webhook endpoint created in the Stripe dashboard."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.core.management.base import CommandError
from django.db import transaction
from django.urls import reverse
from djstripe.models import WebhookEndpoint

from tenants.commands import AltarCommand

SECRET_RE = re.compile(r"^whsec_[A-Za-z0-9]{16,}$")


class Command(AltarCommand):
    help = (
        "Record a Stripe webhook endpoint from its signing secret (whsec_…) and print the "
        "path to give Stripe (prefix it with this platform's public URL). --connect marks "
        "the endpoint for events from connected accounts. Running it again with the same "
        "secret prints the same path."
    )
    json_option = True

    def add_arguments(self, parser):
        parser.add_argument(
            "--secret", required=True, help="The endpoint's signing secret, whsec_…."
        )
        parser.add_argument(
            "--connect", action="store_true", help="Events from connected accounts (Connect)."
        )
        parser.add_argument(
            "--uuid",
            type=uuid.UUID,
            help="Use this UUID in the path (to match a URL already entered in the dashboard).",
        )

    @transaction.atomic
    def handle(self, *args, **options):
        secret = options["secret"]
        if not SECRET_RE.match(secret):
            raise CommandError("--secret must look like whsec_ followed by letters and digits.")
        kind = "connect" if options["connect"] else "platform"
        endpoint = WebhookEndpoint.objects.filter(secret=secret).first()
        if endpoint is None:
            endpoint_uuid = options["uuid"] or uuid.uuid4()
            if WebhookEndpoint.objects.filter(djstripe_uuid=endpoint_uuid).exists():
                raise CommandError(f"An endpoint with UUID {endpoint_uuid} already exists.")
            path = reverse("stripe-webhook", kwargs={"uuid": endpoint_uuid})
            endpoint = WebhookEndpoint.objects.create(
                # A local id: the dashboard's we_… id is not needed to receive events.
                id=f"we_altar_{endpoint_uuid.hex}",
                secret=secret,
                djstripe_uuid=endpoint_uuid,
                livemode=settings.STRIPE_LIVE_MODE,
                url=settings.PUBLIC_BASE_URL.rstrip("/") + path,
                api_version="",
                enabled_events=["*"],
                status="enabled",
                metadata={"altar_kind": kind},
            )
        elif (endpoint.metadata or {}).get("altar_kind") != kind:
            recorded_kind = endpoint.metadata.get("altar_kind")
            raise CommandError(f"This secret is already recorded for the {recorded_kind} endpoint.")
        path = reverse("stripe-webhook", kwargs={"uuid": endpoint.djstripe_uuid})
        if options["json"]:
            self.print_json({"path": path})
        else:
            self.stdout.write(f"Recorded the {kind} webhook endpoint. Give Stripe this URL:")
            self.stdout.write(settings.PUBLIC_BASE_URL.rstrip("/") + path)
