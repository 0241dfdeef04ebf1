"""Base class for every tenant-owned model's admin.

The request already runs inside the right scope (tenants.middleware), so the
default managers filter every queryset the admin builds — lists, object
lookups, foreign-key choices, autocompletes and list filters — to the staff
member's tenant. This class adds what scoping cannot: the tenant is set on
new objects, another tenant's object answers 404 (not a redirect that
confirms it exists), role checks, and a tenant column/filter for superusers.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import Http404, HttpRequest

from tenants.models import Tenant, TenantMembership


def request_tenant(request: HttpRequest) -> Tenant | None:
    return getattr(request, "tenant", None)


def request_role(request: HttpRequest) -> str | None:
    membership = getattr(request, "membership", None)
    return membership.role if membership else None


class TenantScopedAdmin(admin.ModelAdmin):
    # Roles allowed to use this admin at all; owners-only admins narrow it.
    allowed_roles: frozenset[str] = frozenset(
        {TenantMembership.Role.OWNER, TenantMembership.Role.STAFF}
    )
    tenant_field = "tenant"

    # --- permissions: membership role in the active tenant, or superuser ---
    def _allowed(self, request: HttpRequest) -> bool:
        if request.user.is_active and request.user.is_superuser:
            return True
        return request_role(request) in self.allowed_roles

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allowed(request)

    # --- the tenant column ---
    def get_exclude(self, request: HttpRequest, obj: Any = None):
        excluded = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser:
            excluded.append(self.tenant_field)
        return excluded

    def get_list_display(self, request: HttpRequest):
        columns = list(super().get_list_display(request))
        if request.user.is_superuser and self.tenant_field not in columns:
            columns.append(self.tenant_field)
        return columns

    def get_list_filter(self, request: HttpRequest):
        filters = list(super().get_list_filter(request))
        if request.user.is_superuser and self.tenant_field not in filters:
            filters.insert(0, self.tenant_field)
        return filters

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        if not change and not request.user.is_superuser:
            setattr(obj, self.tenant_field, request_tenant(request))
        super().save_model(request, obj, form, change)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # Django redirects with "doesn't exist"; another tenant's object must
        # be indistinguishable from a missing one: a plain 404.
        raise Http404("Not found.")


class TenantScopedInline(admin.TabularInline):
    """Inline rows inherit their parent's tenant."""

    tenant_field = "tenant"

    def get_exclude(self, request: HttpRequest, obj: Any = None):
        return [*(super().get_exclude(request, obj) or []), self.tenant_field]
