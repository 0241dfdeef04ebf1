"""The admin screens for what couples agree to (issue 14): terms versions,
booking questions, the cancellation/change policy and couples'
cancellation requests. Plain Django admin (the backoffice restyles it);
every write goes through bookings.agreements."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from bookings.agreements import booking_question_save, terms_publish
from bookings.models import BookingQuestion, TermsVersion
from config.errors import DomainError
from tenants.admin_base import ServiceFormAdminMixin, TenantScopedAdmin, copy_saved, refused


@admin.register(TermsVersion)
class TermsVersionAdmin(ServiceFormAdminMixin, TenantScopedAdmin):
    """Publish-only: a version, once published, is what couples accepted,
    so it is never edited or deleted. To change the terms, add a version."""

    list_display = ("version", "created_at")
    ordering = ("-version",)

    def get_fields(self, request: HttpRequest, obj: Any = None):
        fields = ["text"] if obj is None else ["version", "text", "created_at"]
        if request.user.is_superuser and obj is None:
            fields.insert(0, "tenant")
        return fields

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None):
        return ["tenant", "version", "text", "created_at"] if obj is not None else []

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: TermsVersion, form: Any, change: bool) -> None:
        if change:
            return  # nothing on the page is editable
        tenant = self.service_tenant(request, obj)
        try:
            saved = terms_publish(tenant=tenant, text=form.cleaned_data["text"])
        except (DomainError, ValidationError) as exc:
            raise refused(exc) from exc
        copy_saved(obj, saved)


@admin.register(BookingQuestion)
class BookingQuestionAdmin(ServiceFormAdminMixin, TenantScopedAdmin):
    list_display = ("label", "key", "kind", "required", "active", "position")
    list_editable = ()
    fields = ("label", "key", "kind", "choices", "required", "help_text", "position", "active")
    ordering = ("position", "id")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # answers refer to the key: deactivate instead

    def save_model(
        self, request: HttpRequest, obj: BookingQuestion, form: Any, change: bool
    ) -> None:
        tenant = self.service_tenant(request, obj)
        try:
            saved = booking_question_save(tenant=tenant, question=obj)
        except (DomainError, ValidationError) as exc:
            raise refused(exc) from exc
        copy_saved(obj, saved)
