"""Tenants in the admin: a staff member sees their own tenant's settings and
branding (owners edit them, staff only view); platform fields (commission,
Stripe account) and API keys are for superusers only. Writes go through
tenants.services. Staff linked to several tenants switch the active one here.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from config.errors import DomainError
from tenants.admin_base import (
    OWNER_ROLES,
    STAFF_ROLES,
    AuditHistoryMixin,
    ServiceFormAdminMixin,
    TenantScopedAdmin,
    copy_saved,
    is_platform_admin,
    refused,
    request_tenant,
    role_allowed,
)
from tenants.forms import AdminEmailAuthenticationForm, TenantSettingsForm, currency_label
from tenants.middleware import ACTIVE_TENANT_SESSION_KEY
from tenants.models import ApiKey, Tenant, TenantMembership
from tenants.money_fields import MoneyFieldsAdminMixin
from tenants.selectors import api_key_list, memberships_for_user
from tenants.services import (
    api_key_revoke,
    api_key_rotate,
    invitation_resend,
    membership_remove,
    membership_role_change,
    staff_invite,
    tenant_create,
    tenant_update,
)

# The login is the e-mail address (admin login page and /accounts/login/).
admin.site.login_form = AdminEmailAuthenticationForm
# The name staff know the platform by, on every admin and accounts page.
admin.site.site_header = "Altar"
admin.site.site_title = "Altar"
# The dashboard's heading (Django says "Site administration").
admin.site.index_title = "Dashboard"

OWNER_ONLY = OWNER_ROLES
# Set by the platform, never by the tenant's own staff.
PLATFORM_FIELDS = (
    "slug",
    "active",
    "commission_bps",
    "stripe_account_id",
    "stripe_charges_enabled",
)


# What Stripe last said about the Connect account: shown, never typed in.
CONNECT_STATE_FIELDS = (
    "stripe_transfers_active",
    "stripe_account_checked_at",
    "stripe_account_deauthorized_at",
)


class ApiKeyRotateForm(forms.Form):
    kind = forms.ChoiceField(choices=ApiKey.Kind.choices)
    grace_hours = forms.DecimalField(
        min_value=0,
        max_value=720,
        decimal_places=2,
        initial=24,
        help_text="How long the old key keeps working (0: refused at once; at most 30 days).",
    )


class CommissionPercentField(forms.DecimalField):
    """The platform commission as people say it ("12.5" %), stored in basis
    points (1250): only superusers see it, and never in basis points."""

    def __init__(self, **kwargs) -> None:
        kwargs.pop("max_value", None)
        kwargs.pop("min_value", None)
        super().__init__(
            min_value=0,
            max_value=50,
            decimal_places=2,
            label="Platform commission (%)",
            help_text="The platform's share of each payment, e.g. 12.5 (at most 50).",
            **{k: v for k, v in kwargs.items() if k not in {"label", "help_text"}},
        )

    def prepare_value(self, value):
        if isinstance(value, int):
            return f"{value / 100:g}"
        return value

    def clean(self, value):
        percent = super().clean(value)
        return None if percent is None else int(percent * 100)


def commission_percent(bps: int) -> str:
    """1250 -> "12.5 %"."""
    return f"{bps / 100:g} %"


@admin.register(Tenant)
class TenantAdmin(MoneyFieldsAdminMixin, ServiceFormAdminMixin, AuditHistoryMixin, ModelAdmin):
    form = TenantSettingsForm
    list_display = ("name", "booking_address", "active", "currency_name", "time_zone", "commission")
    list_filter = ("active", "currency")
    search_fields = ("name", "slug")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    money_fields = {"plan_deposit_cents": "Fixed deposit"}

    def money_currency(self, request: HttpRequest, obj: Any) -> str:
        return obj.currency if obj is not None else "usd"

    fieldsets = (
        (
            "Your business",
            {"fields": ("name", "slug", "active", "contact_email", "currency", "timezone")},
        ),
        (
            "Booking rules",
            {
                "fields": (
                    "hold_minutes",
                    "hold_limit_per_email",
                    "hold_limit_per_address",
                    "hold_limit_per_tenant",
                    "min_notice_days",
                    "max_advance_days",
                    "success_url_template",
                    "cancel_url_template",
                    "default_language",
                )
            },
        ),
        (
            "Payment plan",
            {
                "fields": (
                    "plan_kind",
                    "plan_deposit_percent",
                    "plan_deposit_cents",
                    "plan_deposit_refundable",
                    "plan_balance_days_before",
                ),
                "description": "How couples pay: in full at booking, or a deposit now and the "
                "balance charged to their card before the wedding. Packages may set their own.",
            },
        ),
        (
            "Booking page and widget",
            {
                "fields": ("booking_page", "cors_origins"),
                "description": "Your booking page's address, and the snippet that puts the "
                "“Check dates & book” button on your own website: paste it where the button "
                "should appear, and list that website below.",
            },
        ),
        (
            "Branding",
            {"fields": ("primary_color", "secondary_color", "font_family", "logo", "logo_preview")},
        ),
        (
            "Platform",
            {
                "fields": (
                    "commission_bps",
                    "stripe_account_id",
                    "stripe_charges_enabled",
                    *CONNECT_STATE_FIELDS,
                )
            },
        ),
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "commission_bps":
            return db_field.formfield(form_class=CommissionPercentField, **kwargs)
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="Platform commission")
    def commission(self, tenant: Tenant) -> str:
        return commission_percent(tenant.commission_bps)

    @admin.display(description="Booking page address", ordering="slug")
    def booking_address(self, tenant: Tenant) -> str:
        return tenant.slug

    @admin.display(description="Currency", ordering="currency")
    def currency_name(self, tenant: Tenant) -> str:
        return currency_label(tenant.currency)

    @admin.display(description="Time zone", ordering="timezone")
    def time_zone(self, tenant: Tenant) -> str:
        return tenant.timezone.replace("_", " ")

    def get_list_display(self, request: HttpRequest):
        shown = super().get_list_display(request)
        if request.user.is_superuser:
            return shown
        return [name for name in shown if name != "commission"]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None):
        """The platform's commission is the platform's business: tenant staff
        neither see nor edit it (it stays read-only for them, should a form
        ever carry it)."""
        fieldsets = super().get_fieldsets(request, obj)
        if obj is not None and not self.has_change_permission(request, obj):
            # Shown, not edited: "USD — US Dollar" rather than the stored "usd".
            fieldsets = [
                (
                    title,
                    {
                        **options,
                        "fields": [
                            "currency_name" if f == "currency" else f for f in options["fields"]
                        ],
                    },
                )
                for title, options in fieldsets
            ]
        if request.user.is_superuser:
            return fieldsets
        return [
            (
                "Payments account (Stripe)" if title == "Platform" else title,
                {**options, "fields": [f for f in options["fields"] if f != "commission_bps"]},
            )
            for title, options in fieldsets
        ]

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
        readonly = ["logo_preview", "booking_page", *CONNECT_STATE_FIELDS]
        if not request.user.is_superuser:
            readonly += PLATFORM_FIELDS
        return readonly

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        raise Http404("Not found.")

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        # Django checks the change permission before the object's existence,
        # so a view-only member POSTing to another tenant would get 403 (and
        # learn the tenant exists); look it up first: not found is 404.
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404("Not found.")
        extra_context = {
            **(extra_context or {}),
            "can_manage_team": role_allowed(request, OWNER_ONLY),
        }
        if not request.user.is_superuser:
            # "Settings", not unfold's "Tenants > Tenants > name".
            extra_context["header_parts"] = [{"title": "Settings"}]
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="Booking page")
    def booking_page(self, tenant: Tenant) -> str:
        """The hosted page's address and the widget snippet, with the
        tenant's current publishable key (public by design)."""
        if not tenant.pk:
            return "—"
        base = settings.PUBLIC_BASE_URL.rstrip("/")
        page = base + reverse("storefront:book", args=[tenant.slug])
        key = (
            ApiKey.objects.filter(
                tenant=tenant,
                kind=ApiKey.Kind.PUBLISHABLE,
                revoked_at__isnull=True,
                valid_until__isnull=True,
            )
            .exclude(publishable_key="")
            .order_by("-created_at")
            .values_list("publishable_key", flat=True)
            .first()
        )
        if key is None:
            return format_html('<a href="{}">{}</a>', page, page)
        snippet = (
            f'<script src="{base}{reverse("storefront:widget-js")}" data-key="{key}" async>'
            "</script>"
        )
        return format_html(
            '<a href="{}">{}</a><p>Widget snippet:</p><pre id="widget-snippet">{}</pre>',
            page,
            page,
            snippet,
        )

    @admin.display(description="Logo preview")
    def logo_preview(self, tenant: Tenant) -> str:
        if not tenant.pk or not tenant.logo:
            return "—"
        return format_html('<img src="{}" alt="" class="altar-logo-preview">', tenant.logo.url)

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
        view = self.admin_site.admin_view
        return [
            path("switch/", view(self.switch_view), name="tenants_tenant_switch"),
            path(
                "<path:object_id>/keys/",
                view(self.api_keys_view),
                name="tenants_tenant_api_keys",
            ),
            path(
                "<path:object_id>/keys/rotate/",
                view(self.api_key_rotate_view),
                name="tenants_tenant_api_key_rotate",
            ),
            path(
                "<path:object_id>/keys/<int:key_id>/revoke/",
                view(self.api_key_revoke_view),
                name="tenants_tenant_api_key_revoke",
            ),
            *super().get_urls(),
        ]

    # --- the tenant's API keys: owners (and superusers) rotate and revoke ---
    def _keys_tenant(self, request: HttpRequest, object_id: str) -> Tenant:
        """The tenant whose keys are managed. Looked up before the role check:
        another tenant's keys are 404 for everyone who is not a superuser,
        never a 403 that would confirm the tenant exists."""
        tenant = self.get_object(request, unquote(object_id))
        if tenant is None:
            raise Http404("Not found.")
        if not role_allowed(request, OWNER_ONLY):
            raise PermissionDenied
        return tenant

    def _keys_page(
        self, request: HttpRequest, tenant: Tenant, form: forms.Form | None = None
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": tenant,
            "title": f"API keys: {tenant.name}",
            "keys": api_key_list(tenant=tenant),
            "rotate_form": form or ApiKeyRotateForm(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tenants/tenant/api_keys.html", context)

    def api_keys_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        tenant = self._keys_tenant(request, object_id)
        return self._keys_page(request, tenant)

    def api_key_rotate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        tenant = self._keys_tenant(request, object_id)
        if request.method != "POST":
            return HttpResponseRedirect(reverse("admin:tenants_tenant_api_keys", args=[tenant.pk]))
        form = ApiKeyRotateForm(request.POST)
        if not form.is_valid():
            return self._keys_page(request, tenant, form)
        rotated = api_key_rotate(
            tenant=tenant,
            kind=form.cleaned_data["kind"],
            grace_hours=float(form.cleaned_data["grace_hours"]),
        )
        # Rendered in the POST's own response, never redirected to or stored:
        # this page is the only time the new key exists in clear (the admin
        # wraps the view in never_cache, so no cache keeps it either).
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": tenant,
            "title": "New API key",
            "kind": rotated.issued.api_key.get_kind_display(),
            "key": rotated.issued.key,
            "previous_valid_until": rotated.previous_valid_until,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/tenants/tenant/api_key_issued.html", context)

    def api_key_revoke_view(
        self, request: HttpRequest, object_id: str, key_id: int
    ) -> HttpResponse:
        tenant = self._keys_tenant(request, object_id)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])  # a change needs the CSRF-checked POST
        # Filtered by tenant too: another tenant's key id is not found.
        api_key = ApiKey.objects.filter(tenant=tenant, pk=key_id).first()
        if api_key is None:
            raise Http404("Not found.")
        api_key_revoke(tenant=tenant, api_key=api_key)
        self.message_user(
            request,
            f"{api_key.get_kind_display()} key {api_key.prefix}… revoked.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:tenants_tenant_api_keys", args=[tenant.pk]))

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
class ApiKeyAdmin(AuditHistoryMixin, ModelAdmin):
    """Superusers only for now; keys are issued by create_tenant/rotate_api_key."""

    list_display = (
        "tenant",
        "kind",
        "prefix",
        "created_at",
        "valid_until",
        "revoked_at",
        "last_used_at",
    )
    list_filter = ("tenant", "kind")
    search_fields = ("prefix", "tenant__slug")
    readonly_fields = (
        "tenant",
        "kind",
        "prefix",
        "publishable_key",
        "created_at",
        "valid_until",
        "revoked_at",
        "last_used_at",
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


# --- the owner's staff ------------------------------------------------------------


class MembershipAddForm(forms.ModelForm):
    email = forms.EmailField(
        label="E-mail",
        help_text="We e-mail them a link to accept (it works once, for a few days). "
        "They choose their own password, or accept with the Altar login they already have. "
        "Until they accept, the invitation gives them no access.",
    )

    class Meta:
        model = TenantMembership
        fields = ("role",)


@admin.register(TenantMembership)
class TenantMembershipAdmin(ServiceFormAdminMixin, TenantScopedAdmin):
    """Owners invite staff by e-mail, re-send or withdraw (delete) pending
    invitations, change roles and remove people; staff have no access at
    all. The owner never sees or sets anyone's credentials, and every page
    and message reads the same whether or not the invited address already
    had an account. Writes go through tenants.services (audited)."""

    allowed_roles = OWNER_ONLY
    list_display = ("member_email", "role", "status", "invitation_expires_at", "created_at")
    list_filter = ("status", "role")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    actions = ("resend_invitations",)

    # Lower-cased, and never the username: how an account that existed
    # before spells its address is not the inviting owner's business.
    @admin.display(description="E-mail", ordering="user__email")
    def member_email(self, membership: TenantMembership) -> str:
        return membership.user.email.lower()

    def get_fields(self, request: HttpRequest, obj: Any = None):
        fields = ["email", "role"] if obj is None else ["member_email", "role", "status"]
        if is_platform_admin(request):
            fields.insert(0, "tenant")
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        # The person is fixed once invited: only the role changes.
        return [
            *super().get_readonly_fields(request, obj),
            *(["member_email", "status"] if obj else []),
        ]

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs):
        if obj is None:
            kwargs["form"] = MembershipAddForm
        return super().get_form(request, obj, change, **kwargs)

    def _tenant(self, request: HttpRequest, obj: TenantMembership) -> Tenant:
        return request_tenant(request) if not is_platform_admin(request) else obj.tenant

    def save_model(self, request: HttpRequest, obj: TenantMembership, form: Any, change: bool):
        tenant = self._tenant(request, obj)
        try:
            if change:
                if "role" in form.changed_data:
                    saved = membership_role_change(
                        tenant=tenant, membership=obj, role=form.cleaned_data["role"]
                    )
                else:
                    saved = obj
            else:
                email = form.cleaned_data["email"]
                saved = staff_invite(
                    tenant=tenant,
                    email=email,
                    role=form.cleaned_data["role"],
                    invited_by=request.user,
                ).membership
        except (DomainError, ValidationError) as exc:
            raise refused(exc) from exc
        copy_saved(obj, saved)

    def response_add(self, request: HttpRequest, obj: TenantMembership, post_url_continue=None):
        # One message whatever the address: Django's default would name the
        # object (str() shows the account's username).
        self.message_user(
            request,
            f"Invitation e-mailed to {obj.user.email.lower()}. "
            "They have no access until they accept it.",
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:tenants_tenantmembership_changelist"))

    def delete_model(self, request: HttpRequest, obj: TenantMembership) -> None:
        try:
            membership_remove(tenant=self._tenant(request, obj), membership=obj)
        except ValidationError as exc:
            raise refused(exc) from exc

    @admin.action(description="Re-send the invitation (the previous link stops working)")
    def resend_invitations(self, request: HttpRequest, queryset: QuerySet[TenantMembership]):
        resent = 0
        for membership in queryset.select_related("tenant", "user"):
            try:
                invitation_resend(tenant=self._tenant(request, membership), membership=membership)
            except ValidationError:
                continue
            resent += 1
        skipped = queryset.count() - resent
        self.message_user(
            request,
            f"{resent} invitation(s) re-sent."
            + (f" {skipped} already accepted: nothing to send." if skipped else ""),
            messages.SUCCESS if resent else messages.WARNING,
        )
