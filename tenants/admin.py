"""Tenants in the admin: a staff member sees their own tenant's settings and
branding (owners edit them, staff only view); platform fields (commission,
Stripe account) and API keys are for superusers only. Writes go through
tenants.services. Staff linked to several tenants switch the active one here.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from config.errors import DomainError
from tenants.admin_base import (
    STAFF_ROLES,
    ServiceFormAdminMixin,
    copy_saved,
    refused,
    request_tenant,
    role_allowed,
)
from tenants.middleware import ACTIVE_TENANT_SESSION_KEY
from tenants.models import ApiKey, Tenant, TenantMembership
from tenants.selectors import memberships_for_user
from tenants.services import api_key_revoke, tenant_create, tenant_update

OWNER_ONLY = frozenset({TenantMembership.Role.OWNER})
# Set by the platform, never by the tenant's own staff.
PLATFORM_FIELDS = (
    "slug", "active", "commission_bps", "stripe_account_id", "stripe_charges_enabled",
)


@admin.register(Tenant)
class TenantAdmin(ServiceFormAdminMixin, admin.ModelAdmin):
    list_display = ("name", "slug", "active", "currency", "timezone", "commission_bps")
    list_filter = ("active", "currency")
    search_fields = ("name", "slug")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("name", "slug", "active", "contact_email", "currency", "timezone")}),
        (
            "Booking",
            {
                "fields": (
                    "hold_minutes", "min_notice_days", "max_advance_days",
                    "success_url_template", "cancel_url_template",
                )
            },
        ),
        (
            "Branding",
            {"fields": ("primary_color", "secondary_color", "font_family", "logo", "logo_preview")},
        ),
        ("Platform", {"fields": ("commission_bps", "stripe_account_id", "stripe_charges_enabled")}),
    )

    # --- who sees what: superusers every tenant, members their active one ---
    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        tenant = request_tenant(request)
        # Tenant is the root of tenancy, not a scoped model: filter by hand.
        return queryset.filter(pk=tenant.pk) if tenant is not None else queryset.none()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return role_allowed(request, STAFF_ROLES)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return role_allowed(request, STAFF_ROLES)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return role_allowed(request, OWNER_ONLY)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: bookings and payments hang off a tenant

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        readonly = ["logo_preview"]
        if not request.user.is_superuser:
            readonly += PLATFORM_FIELDS
        return readonly

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("Not found.")

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        # Django checks the change permission before the object's existence,
        # so a view-only member POSTing to another tenant would get 403 (and
        # learn the tenant exists); look it up first: not found is 404.
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404("Not found.")
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Logo preview")
    def logo_preview(self, tenant: Tenant) -> str:
        if not tenant.pk or not tenant.logo:
            return "—"
        return format_html('<img src="{}" alt="" style="max-height:80px">', tenant.logo.url)

    # --- writes through the services ---
    def save_model(self, request: HttpRequest, obj: Tenant, form: Any, change: bool) -> None:
        data = dict(form.cleaned_data)
        try:
            if not change:
                created = tenant_create(
                    slug=data.pop("slug"),
                    name=data.pop("name"),
                    currency=data.pop("currency"),
                    timezone_name=data.pop("timezone"),
                    commission_bps=data.pop("commission_bps"),
                    **{name: value for name, value in data.items() if value is not False},
                )
            else:
                changes = {
                    # False is the form's "clear the file" for the logo.
                    name: ("" if data[name] is False else data[name])
                    for name in form.changed_data
                }
                if not changes:
                    return
                # A fresh row, not the form's instance: tenant_update saves the
                # whole row, and this keeps columns other writers change
                # meanwhile (catalog_version, Stripe flags) as current as we can.
                saved = tenant_update(tenant=Tenant.objects.get(pk=obj.pk), **changes)
        except (DomainError, ValidationError) as exc:
            raise refused(exc) from exc
        if not change:
            saved = created.tenant
            # The secret key exists in plaintext only now (like create_tenant).
            self.message_user(
                request,
                f"Publishable key: {created.publishable.key} — secret key (shown once): "
                f"{created.secret.key}",
                messages.WARNING,
            )
        copy_saved(obj, saved)

    # --- switching the active tenant (staff linked to several) ---
    def get_urls(self):
        switch = path(
            "switch/", self.admin_site.admin_view(self.switch_view), name="tenants_tenant_switch"
        )
        return [switch, *super().get_urls()]

    def switch_view(self, request: HttpRequest) -> HttpResponse:
        memberships = memberships_for_user(user=request.user)
        if not memberships:
            raise Http404("Not found.")
        if request.method == "POST":
            wanted = request.POST.get("tenant", "")
            chosen = next((m for m in memberships if str(m.tenant_id) == wanted), None)
            if chosen is None:
                raise Http404("Not found.")
            request.session[ACTIVE_TENANT_SESSION_KEY] = chosen.tenant_id
            self.message_user(request, f"Now working on {chosen.tenant.name}.", messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:index"))
        active = request_tenant(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Switch tenant",
            "memberships": memberships,
            "active_tenant_id": active.pk if active else None,
        }
        return TemplateResponse(request, "admin/tenants/tenant/switch.html", context)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    """Superusers only for now; keys are issued by create_tenant/rotate_api_key."""

    list_display = (
        "tenant", "kind", "prefix", "created_at", "valid_until", "revoked_at", "last_used_at",
    )
    list_filter = ("tenant", "kind")
    search_fields = ("prefix", "tenant__slug")
    readonly_fields = (
        "tenant", "kind", "prefix", "publishable_key", "created_at", "valid_until",
        "revoked_at", "last_used_at",
    )
    exclude = ("key_hash",)
    actions = ("revoke_keys",)

    def _superuser(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._superuser(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._superuser(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        return self._superuser(request)

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("Not found.")

    @admin.action(description="Revoke the selected keys now", permissions=["revoke"])
    def revoke_keys(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        keys = list(queryset.select_related("tenant"))
        for api_key in keys:
            api_key_revoke(tenant=api_key.tenant, api_key=api_key)
        self.message_user(request, f"{len(keys)} key(s) revoked.", messages.SUCCESS)
