"""`manage.py create_tenant`: a new wedding business and its first API keys."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from tenants.commands import AltarCommand
from tenants.services import tenant_create


class Command(AltarCommand):
    help = (
        "Create a tenant (a wedding business) and print its publishable key, for the "
        "couples' website, and its secret key. The secret key is shown only this once: "
        "store it now. Invalid or taken values are refused and nothing is written."
    )
    json_option = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--slug",
            required=True,
            help="Unique, URL-safe name: 3-50 lower-case letters, digits and hyphens, "
            "starting with a letter (e.g. juniper-elopements).",
        )
        parser.add_argument(
            "--name", required=True, help="Display name, e.g. 'Juniper Elopements'."
        )
        parser.add_argument(
            "--currency",
            default="usd",
            help="Lower-case ISO 4217 code prices are charged in (default: usd).",
        )
        parser.add_argument(
            "--timezone",
            default="UTC",
            metavar="AREA/CITY",
            help="IANA time zone the business works in, e.g. America/Denver (default: UTC).",
        )
        parser.add_argument(
            "--commission-bps",
            type=int,
            default=1000,
            metavar="BPS",
            help="Platform commission in basis points, 0-5000 (default: 1000 = 10%%).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        bps = options["commission_bps"]
        # The model would accept 0..5000 too; checking here gives a one-line
        # answer for the command's own option name.
        if not 0 <= bps <= 5000:
            raise CommandError(f"--commission-bps must be between 0 and 5000, not {bps}.")
        created = tenant_create(
            slug=options["slug"],
            name=options["name"],
            currency=options["currency"],
            timezone_name=options["timezone"],
            commission_bps=bps,
        )
        tenant = created.tenant
        if options["json"]:
            self.print_json(
                {
                    "tenant": {"id": tenant.pk, "slug": tenant.slug},
                    "publishable_key": created.publishable.key,
                    "secret_key": created.secret.key,
                }
            )
            return
        self.stdout.write(f"Created tenant {tenant.slug} ({tenant.name}), id {tenant.pk}.")
        self.stdout.write(f"Publishable key: {created.publishable.key}")
        self.stdout.write(f"Secret key:      {created.secret.key}")
        self.stdout.write("The secret key is shown only this once: store it now.")
