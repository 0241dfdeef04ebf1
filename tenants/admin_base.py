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

from django.contrib import messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Model
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from unfold.admin import ModelAdmin, TabularInline

from config.errors import DomainError
from tenants.models import AuditEntry, Tenant, TenantMembership

STAFF_ROLES = frozenset({TenantMembership.Role.OWNER, TenantMembership.Role.STAFF})
# Roles (issue 5): staff run the day-to-day (bookings, blackouts, catalog);
# owners also run the business's settings, branding, staff and API keys;
# platform fields (commission, Stripe Connect) are superusers' only. Every
# check is made on the server, in has_*_permission / get_readonly_fields and
# in the custom views, so a forged POST is refused whatever the page showed.
OWNER_ROLES = frozenset({TenantMembership.Role.OWNER})


def request_tenant(request: HttpRequest) -> Tenant | None:
    return getattr(request, "tenant", None)


def request_role(request: HttpRequest) -> str | None:
    membership = getattr(request, "membership", None)
    return membership.role if membership else None


def is_platform_admin(request: HttpRequest) -> bool:
    return request.user.is_active and request.user.is_superuser


def role_allowed(request: HttpRequest, roles: frozenset[str]) -> bool:
    """Superusers may do anything; others need one of `roles` in the active tenant."""
    if request.user.is_active and request.user.is_superuser:
        return True
    return request_role(request) in roles


# --- services behind admin forms ---------------------------------------------


class ServiceRefused(Exception):
    """Raised from save_model/save_formset/delete_model when a service refuses;
    ServiceFormAdminMixin turns it into form errors (never a 500)."""

    def __init__(self, error: ValidationError):
        super().__init__(error)
        self.error = error


def as_validation_error(exc: DomainError | ValidationError) -> ValidationError:
    """A domain error (with its per-field codes) as a Django ValidationError."""
    if isinstance(exc, ValidationError):
        return exc
    if exc.fields:
        return ValidationError(
            {
                field: [ValidationError(e["message"], code=e["code"]) for e in errors]
                for field, errors in exc.fields.items()
            }
        )
    return ValidationError(exc.message, code=exc.code)


def refused(exc: DomainError | ValidationError) -> ServiceRefused:
    return ServiceRefused(as_validation_error(exc))


def copy_saved(obj: Model, saved: Model) -> None:
    """Give the admin's unsaved form instance the row the service wrote (pk
    and all), so logging, messages and redirects see the real object."""
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))
    obj._state.adding = False
    obj._state.db = saved._state.db


class _ServiceErrorsForm:
    """Mixed into the admin's ModelForm on the second pass (see below)."""

    service_error: ValidationError
    service_error_fields: dict[str, str]

    def _post_clean(self) -> None:
        super()._post_clean()
        error = self.service_error
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for field, errors in error.error_dict.items():
            field = self.service_error_fields.get(field, field)
            # A field the form does not show (read-only, "__all__") becomes a
            # non-field error rather than a crash in add_error().
            self.add_error(field if field in self.fields else None, errors)


class ServiceFormAdminMixin:
    """Saves through services, refusals as form errors.

    Why this design: Django's changeform_view runs `_changeform_view` inside
    one transaction.atomic block and only calls save_model/save_formset once
    the form and every inline formset are valid. So save_model calls the
    service (the one and only write: ModelForm.save() is never used), and a
    refusal the database decides (SlugTaken from the unique constraint, a
    photo limit under lock, a ValidationError) raises ServiceRefused. That
    exception leaves the atomic block, which rolls back everything the
    request wrote so far (e.g. the package when its photo is refused). We then
    run the view a second time with the errors attached to the form class:
    the form is invalid, so nothing is written and the page renders with the
    errors next to their fields. Validating by calling the service from
    form.clean() instead would write before the inlines are validated (and
    commit a half-saved object when an inline is invalid), or write twice.
    """

    _service_error_attr = "_altar_service_error"
    # Service error field name -> form field name, where they differ.
    service_error_fields: dict[str, str] = {}

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict | None = None,
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as exc:
            setattr(request, self._service_error_attr, exc.error)
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change, **kwargs)
        error = getattr(request, self._service_error_attr, None)
        if error is None:
            return form_class
        return type(
            form_class.__name__,
            (_ServiceErrorsForm, form_class),
            {"service_error": error, "service_error_fields": self.service_error_fields},
        )

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        # delete_view's own atomic block has rolled back; say why and go back.
        try:
            return super().delete_view(request, object_id, extra_context)
        except ServiceRefused as exc:
            for message in exc.error.messages:
                self.message_user(request, message, messages.ERROR)
            opts = self.model._meta
            return HttpResponseRedirect(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[object_id])
            )

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        """The bulk delete action, one service call (one transaction) per row;
        refused rows are reported and kept."""
        for obj in queryset:
            try:
                self.delete_model(request, obj)
            except ServiceRefused as exc:
                for message in exc.error.messages:
                    self.message_user(request, f"{obj}: {message}", messages.ERROR)


class AuditHistoryMixin:
    """Object history pages show the audit log, not Django's LogEntry."""

    def history_view(
        self, request: HttpRequest, object_id: str, extra_context: dict | None = None
    ) -> HttpResponse:
        """The object's audit entries: unlike LogEntry they include changes
        made through the API, by Stripe events and by commands."""
        obj = self.get_object(request, unquote(object_id))  # scoped: another tenant's is None
        if obj is None:
            raise Http404("Not found.")
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        entries = AuditEntry.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk)
        ).select_related("tenant", "actor_user")
        if not request.user.is_superuser:
            entries = entries.filter(tenant=request_tenant(request))
        context = {
            **self.admin_site.each_context(request),
            "title": f"History: {obj}",
            "subtitle": None,
            "module_name": str(self.opts.verbose_name_plural).capitalize(),
            "object": obj,
            "opts": self.opts,
            "entries": entries,
            "audit_list_url": reverse("admin:tenants_auditentry_changelist"),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/audit_history.html", context)


class BoundedDateChangeList(ChangeList):
    """Django's date drill-down (`?<field>__year=9999`, `__month=12`) computes
    the end of the period by adding a year, month or day, which overflows
    past 9999-12-31 into an uncaught OverflowError/ValueError (a 500). Here
    it is an invalid filter like any other: the list reloads with `?e=1`."""

    def get_filters(self, request):
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class TenantScopedAdmin(AuditHistoryMixin, ModelAdmin):
    # Roles allowed to use this admin at all; owners-only admins narrow it.
    allowed_roles: frozenset[str] = STAFF_ROLES
    tenant_field = "tenant"

    def get_changelist(self, request: HttpRequest, **kwargs):
        return BoundedDateChangeList

    # --- permissions: membership role in the active tenant, or superuser ---
    def _allowed(self, request: HttpRequest) -> bool:
        return role_allowed(request, self.allowed_roles)

    def service_tenant(self, request: HttpRequest, obj: Any) -> Tenant:
        """The tenant a write acts on: the staff member's active tenant, or
        (superusers, who see every tenant) the object's own."""
        if request.user.is_superuser:
            return getattr(obj, self.tenant_field)
        return request_tenant(request)

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

    def get_fields(self, request: HttpRequest, obj: Any = None):
        fields = list(super().get_fields(request, obj))
        # Admins that declare `fields` leave the tenant out; superusers pick it.
        if request.user.is_superuser and self.tenant_field not in fields:
            fields.insert(0, self.tenant_field)
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        readonly = list(super().get_readonly_fields(request, obj))
        # Moving an existing row to another tenant would orphan its links.
        if request.user.is_superuser and obj is not None and self.tenant_field not in readonly:
            readonly.append(self.tenant_field)
        return readonly

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


class TenantScopedInline(TabularInline):
    """Inline rows inherit their parent's tenant. Permissions follow the
    membership role like TenantScopedAdmin (staff hold no Django model
    permissions, so the defaults would hide every inline from them)."""

    tenant_field = "tenant"
    allowed_roles: frozenset[str] = STAFF_ROLES

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return role_allowed(request, self.allowed_roles)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return role_allowed(request, self.allowed_roles)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return role_allowed(request, self.allowed_roles)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return role_allowed(request, self.allowed_roles)

    def get_exclude(self, request: HttpRequest, obj: Any = None):
        return [*(super().get_exclude(request, obj) or []), self.tenant_field]
