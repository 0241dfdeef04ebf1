"""Re-run our processing of stored Stripe events."""

from __future__ import annotations

from datetime import datetime

from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

from bookings.models import BookingDispute, PaymentReview
from tenants.commands import AltarCommand
from tenants.scoping import scopes_disabled
from webhooks.models import StripeEvent
from webhooks.services import stripe_event_process, stripe_event_record_failure


def _iso(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(value)
    return parsed


class Command(AltarCommand):
    help = (
        "Re-run Altar's processing of stored Stripe events (all not yet processed by default). "
        "Safe to run any number of times: processed events are not applied twice."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--failed", action="store_true", help="Only events whose processing failed."
        )
        parser.add_argument("--event", metavar="evt_…", help="Only this event.")
        parser.add_argument(
            "--since",
            type=_iso,
            metavar="ISO",
            help="Only events received at or after this time (with offset).",
        )

    def handle(self, *args, **options):
        with scopes_disabled():  # ops act across tenants; each event re-enters its own scope
            events = StripeEvent.objects.exclude(status__in=StripeEvent.DONE_STATUSES)
            if options["event"]:
                events = StripeEvent.objects.filter(event_id=options["event"])
                if not events.exists():
                    raise CommandError(f"No stored event {options['event']}.")
            if options["failed"]:
                events = events.filter(status=StripeEvent.Status.FAILED)
            if options["since"]:
                events = events.filter(received_at__gte=options["since"])
            payloads = list(events.order_by("received_at", "id").values_list("payload", flat=True))

        counts = {"processed": 0, "ignored": 0, "failed": 0, "already_done": 0}
        for payload in payloads:
            try:
                result = stripe_event_process(event=payload)
            except Exception as exc:  # noqa: BLE001 - record it and go on with the next event
                stripe_event_record_failure(event=payload, exc=exc)
                counts["failed"] += 1
                continue
            counts["already_done" if result.duplicate else result.event.status] += 1
        self.stdout.write(
            f"{len(payloads)} event(s): {counts['processed']} processed, "
            f"{counts['ignored']} ignored, "
            f"{counts['failed']} failed, {counts['already_done']} already done."
        )
        # Money that replaying cannot settle: a person has to look (admin).
        with scopes_disabled():
            reviews = PaymentReview.objects.filter(resolved_at__isnull=True).count()
            disputes = BookingDispute.objects.exclude(
                status__in=BookingDispute.CLOSED_STATUSES
            ).count()
        if reviews or disputes:
            self.stdout.write(
                f"Needs a person: {reviews} payment(s) needing review, "
                f"{disputes} open dispute(s) (admin: Payments needing review, Disputes)."
            )
