"""`manage.py reconcile_stripe`: prove Altar's books match Stripe's."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import CommandError
from django.utils.dateparse import parse_datetime

from bookings.errors import PaymentProviderError
from bookings.reconcile import reconcile_run
from tenants.commands import OptionalTenantCommand
from tenants.models import Tenant


def _iso(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None or parsed.tzinfo is None:
        raise ValueError(value)
    return parsed


class Command(OptionalTenantCommand):
    help = (
        "Compare Stripe's charges, refunds, disputes and application fees (created at or after "
        "--since) with Altar's bookings, refunds and disputes, and print every difference. "
        "--fix records what Stripe did (refunds, disputes) in Altar, audited; it never moves "
        "money. Read-only without --fix; safe from cron. Exits 1 while differences remain."
    )
    json_option = True

    def add_arguments(self, parser):
        parser.add_argument(
            "--since",
            type=_iso,
            metavar="ISO",
            help="Only Stripe objects created at or after this time (with offset).",
        )
        parser.add_argument(
            "--fix", action="store_true", help="Record in Altar what Stripe did, where it can."
        )

    def handle_tenant(self, tenant: Tenant | None, *args: Any, **options: Any) -> None:
        try:
            result = reconcile_run(tenant=tenant, since=options["since"], fix=options["fix"])
        except PaymentProviderError as exc:
            raise CommandError("Stripe could not be read; nothing was compared.") from exc
        if options["json"]:
            self.print_json(
                {
                    "run": result.run.pk,
                    "stripe_objects": result.run.stripe_objects,
                    "fixed": [d.as_dict(fixed=True) for d in result.fixed],
                    "remaining": [d.as_dict() for d in result.remaining],
                    "seconds": round(result.seconds, 3),
                }
            )
        else:
            for difference in result.fixed:
                self.stdout.write(f"fixed: {difference.message}")
            for difference in result.remaining:
                self.stdout.write(difference.message)
            self.stdout.write(
                f"Compared {result.run.stripe_objects} Stripe object(s) in "
                f"{result.seconds:.1f} s: {len(result.fixed)} fixed, "
                f"{len(result.remaining)} difference(s) remain."
            )
        if result.remaining:
            raise CommandError(f"{len(result.remaining)} difference(s) remain.")
