"""`manage.py export_catalog`: a tenant's catalog as the import_catalog JSON."""

from __future__ import annotations

import json
from typing import Any

from backoffice.catalog_file import catalog_export
from tenants.commands import TenantCommand
from tenants.models import Tenant


class Command(TenantCommand):
    help = (
        "Print a tenant's catalog (every package, inactive ones too, add-ons and blackout "
        "dates) as JSON in the format import_catalog reads, in a stable order, so that "
        "export, import into another tenant and export again gives identical output."
    )

    def handle_tenant(self, tenant: Tenant, *args: Any, **options: Any) -> None:
        self.stdout.write(json.dumps(catalog_export(tenant=tenant), indent=2, ensure_ascii=False))
