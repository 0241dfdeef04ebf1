"""`manage.py rotate_api_key`: a new key; the old one lives on for a grace period."""

from __future__ import annotations

import argparse
import math
from typing import Any

from django.core.management.base import CommandParser

from tenants.commands import TenantCommand
from tenants.models import ApiKey, Tenant
from tenants.services import api_key_rotate

MAX_GRACE_HOURS = 24 * 90


def grace_hours(value: str) -> float:
    try:
        hours = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of hours: {value!r}") from None
    # Bounded: a grace period of years is a mistake, and a huge one would
    # overflow the datetime arithmetic with a traceback instead of a message.
    if not math.isfinite(hours) or not 0 <= hours <= MAX_GRACE_HOURS:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and {MAX_GRACE_HOURS} hours, not {value!r}"
        )
    return hours


class Command(TenantCommand):
    help = (
        "Issue a new API key for a tenant. Keys of that kind valid until now keep working "
        "for --grace-hours more (default 0: refused at once), so the couples' website can "
        "switch over without downtime. A new secret key is shown only this once."
    )
    json_option = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--kind",
            choices=[k.value for k in ApiKey.Kind],
            default=ApiKey.Kind.PUBLISHABLE,
            help="Which key to rotate (default: publishable).",
        )
        parser.add_argument(
            "--grace-hours",
            type=grace_hours,
            default=0.0,
            metavar="H",
            help="Hours the previous key(s) keep working (default: 0, refused immediately).",
        )

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> None:
        kind = options["kind"]
        grace = options["grace_hours"]
        rotated = api_key_rotate(tenant=tenant, kind=kind, grace_hours=grace)
        had_previous = rotated.previous_valid_until is not None
        # With no grace the previous keys are refused from now on: there is no
        # "valid until" to report (null), as when there was no previous key.
        until = rotated.previous_valid_until if grace > 0 else None
        if options["json"]:
            self.print_json(
                {
                    "tenant": tenant.slug,
                    "kind": kind,
                    "key": rotated.issued.key,
                    "previous_valid_until": until.isoformat() if until else None,
                }
            )
            return
        self.stdout.write(f"New {kind} key for {tenant.slug}: {rotated.issued.key}")
        if kind == ApiKey.Kind.SECRET:
            self.stdout.write("The secret key is shown only this once: store it now.")
        if not had_previous:
            self.stdout.write(f"There was no previous {kind} key.")
        elif until is None:
            self.stdout.write(f"Previous {kind} keys are refused from now on.")
        else:
            self.stdout.write(f"Previous {kind} keys keep working until {until.isoformat()}.")
