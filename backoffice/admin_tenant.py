"""Which tenant a back-office page shows: a staff member's active tenant
(tenants.middleware); a superuser, who runs unscoped, picks one with
`?tenant=<slug>` (the dashboard also has an "all tenants" view)."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest

from tenants.admin_base import request_tenant
from tenants.models import Tenant


@dataclass(frozen=True)
class AdminTenant:
    tenant: Tenant | None  # None: a superuser looking at every tenant (or none picked)
    choices: list[Tenant]  # what a superuser may pick from; empty for staff


def admin_tenant(request: HttpRequest) -> AdminTenant:
    """Staff: their active tenant, whatever the query string says (a
    `?tenant=` naming another tenant is ignored, never obeyed). Superusers:
    the tenant named by `?tenant=<slug>`, if any."""
    if request.user.is_superuser:
        choices = list(Tenant.objects.order_by("name", "slug"))
        wanted = request.GET.get("tenant", "")
        return AdminTenant(
            tenant=next((tenant for tenant in choices if tenant.slug == wanted), None),
            choices=choices,
        )
    return AdminTenant(tenant=request_tenant(request), choices=[])
