"""`manage.py import_catalog`: upsert a tenant's catalog from a JSON file."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from backoffice.catalog_file import CatalogFileInvalid, catalog_import
from tenants.commands import TenantCommand
from tenants.models import Tenant


class Command(TenantCommand):
    help = (
        "Upsert a tenant's packages and add-ons (matched by slug) and blackout dates "
        "(matched by date) from a JSON catalog file, the format export_catalog prints: "
        '{"packages": [{"slug", "title", "description", "price_cents", "active", '
        '"position", "add_ons": [slug, ...]}], "add_ons": [{"slug", "title", '
        '"description", "price_cents", "active", "position"}], "blackout_dates": '
        '[{"date": "YYYY-MM-DD", "reason"}]}. '
        "The whole file is validated first; on any problem nothing is changed and every "
        "wrong entry is named (e.g. packages[2].price_cents). Everything is then applied "
        "in one transaction. Idempotent: rows that already match are left untouched. "
        '--json prints {"tenant", "created", "updated", "unchanged", "pruned", '
        '"dry_run"}, each count an object {"packages", "add_ons", "blackout_dates"}; '
        '"pruned" counts deactivated packages/add-ons and deleted blackout dates.'
    )
    json_option = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", metavar="FILE", help="The catalog JSON file ('-' for stdin).")
        parser.add_argument(
            "--prune",
            action="store_true",
            help="Deactivate packages and add-ons the file omits and delete blackout dates "
            "it omits (only for the sections the file contains).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Validate and report what would change; write nothing.",
        )

    def _read(self, name: str) -> Any:
        try:
            text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {name}: {exc}") from exc
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CommandError(f"{name} is not valid JSON: {exc}") from exc

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> None:
        data = self._read(options["file"])
        try:
            plan = catalog_import(
                tenant=tenant, data=data, prune=options["prune"], dry_run=options["dry_run"]
            )
        except CatalogFileInvalid as exc:
            lines = "\n".join(f"  {line}" for line in exc.errors)
            raise CommandError(
                f"{options['file']} is invalid ({len(exc.errors)} problem(s)); "
                f"nothing was changed:\n{lines}"
            ) from exc
        summary = plan.summary()
        if options["json"]:
            self.print_json({"tenant": tenant.slug, **summary, "dry_run": options["dry_run"]})
            return
        prefix = "Dry run, nothing written. Would have: " if options["dry_run"] else ""
        self.stdout.write(f"{prefix}Catalog of {tenant.slug}:")
        for what, counts in summary.items():
            listed = ", ".join(f"{n} {name.replace('_', '-')}" for name, n in counts.items())
            self.stdout.write(f"  {what}: {listed}")
