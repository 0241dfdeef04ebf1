"""The admin screens for what couples agree to (issue 14): terms versions,
booking questions, the cancellation/change policy and couples'
cancellation requests. Plain Django admin (the backoffice restyles it);
every write goes through bookings.agreements."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from bookings.agreements import (
    booking_question_save,
    cancellation_request_resolve,
    policy_save,
    terms_publish,
    tiers_of,
    tiers_validate,
)
from bookings.models import BookingPolicy, BookingQuestion, CancellationRequest, TermsVersion
from bookings.notifications import policy_lines
from config.errors import DomainError
from tenants.admin_base import (
    ServiceFormAdminMixin,
    TenantScopedAdmin,
    copy_saved,
    refused,
    request_tenant,
)
from tenants.money_fields import MoneyFieldsAdminMixin


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


class PolicyForm(forms.ModelForm):
    """The tiers as lines a person writes: "180 100" = cancelled at least
    180 days before, 100 % back."""

    tiers = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "cols": 30}),
        help_text=(
            "One tier per line: days before the wedding, then the refund percentage, "
            "e.g. '180 100', '60 50', '0 0'. Earlier must never refund less."
        ),
    )

    class Meta:
        model = BookingPolicy
        fields = (
            "self_cancel_allowed",
            "date_change_allowed",
            "date_change_min_days",
            "date_change_max_count",
            "date_change_fee_cents",
            "answers_edit_min_days",
        )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        if self.instance and self.instance.cancellation_tiers:
            self.initial["tiers"] = "\n".join(
                f"{d} {p}" for d, p in tiers_of(self.instance.cancellation_tiers)
            )

    def clean_tiers(self) -> list[dict]:
        parsed = []
        for number, line in enumerate(self.cleaned_data["tiers"].splitlines(), start=1):
            if not line.strip():
                continue
            parts = line.replace("%", " ").replace(",", " ").split()
            if len(parts) != 2 or not all(p.isdigit() for p in parts):
                raise ValidationError(f"Line {number}: write days then percentage, e.g. 60 50.")
            parsed.append((int(parts[0]), int(parts[1])))
        return tiers_validate(parsed)


@admin.register(BookingPolicy)
class BookingPolicyAdmin(MoneyFieldsAdminMixin, ServiceFormAdminMixin, TenantScopedAdmin):
    """One policy per tenant: the cancellation tiers (copied onto each new
    booking at checkout) and what couples may do from manage my booking."""

    form = PolicyForm
    list_display = ("__str__", "self_cancel_allowed", "date_change_allowed", "updated_at")
    readonly_fields = ("preview",)
    money_fields = {"date_change_fee_cents": "Date change fee"}

    def money_currency(self, request: HttpRequest, obj: Any) -> str:
        tenant = obj.tenant if obj is not None else request_tenant(request)
        return tenant.currency if tenant is not None else "usd"

    def get_fields(self, request: HttpRequest, obj: Any = None):
        fields = ["tiers", "preview", *PolicyForm.Meta.fields]
        if request.user.is_superuser and obj is None:
            fields.insert(0, "tenant")
        return fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        if not super().has_add_permission(request):
            return False
        # One per tenant: a staff member's tenant that has one edits it.
        return request.user.is_superuser or not self.get_queryset(request).exists()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="What couples read")
    def preview(self, obj: BookingPolicy | None) -> str:
        if obj is None or not obj.pk or not obj.cancellation_tiers:
            return "Save tiers to see the sentences couples read."
        example = timezone.localdate() + dt.timedelta(days=365)
        lines = policy_lines(tiers=obj.cancellation_tiers, event_date=example)
        return format_html(
            "For a wedding on {}:<ul>{}</ul>",
            formats.date_format(example, "DATE_FORMAT"),
            format_html_join("", "<li>{}</li>", ((line,) for line in lines)),
        )

    def save_model(self, request: HttpRequest, obj: BookingPolicy, form: Any, change: bool) -> None:
        tenant = self.service_tenant(request, obj)
        obj.cancellation_tiers = form.cleaned_data["tiers"]
        try:
            saved = policy_save(tenant=tenant, policy=obj)
        except (DomainError, ValidationError) as exc:
            raise refused(exc) from exc
        copy_saved(obj, saved)


@admin.register(CancellationRequest)
class CancellationRequestAdmin(TenantScopedAdmin):
    """Couples' requests to cancel (self-cancel is off). Staff cancel the
    booking from its page (which resolves the request) or mark it resolved."""

    list_display = ("created_at", "booking_link", "event_date", "message", "resolved_at")
    list_filter = (("resolved_at", admin.EmptyFieldListFilter),)
    fields = readonly_fields = (
        "booking_link",
        "event_date",
        "message",
        "created_at",
        "resolved_at",
    )
    actions = ("mark_resolved",)
    list_select_related = ("booking",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Booking")
    def booking_link(self, obj: CancellationRequest) -> str:
        url = reverse("admin:bookings_booking_change", args=[obj.booking_id])
        return format_html('<a href="{}">{}</a>', url, obj.booking)

    @admin.display(description="Wedding date")
    def event_date(self, obj: CancellationRequest) -> dt.date:
        return obj.booking.event_date

    @admin.action(description="Mark resolved")
    def mark_resolved(self, request: HttpRequest, queryset) -> None:
        done = sum(
            cancellation_request_resolve(tenant=r.tenant, request_id=r.pk)
            for r in queryset.select_related("tenant")
        )
        self.message_user(request, f"{done} request(s) resolved.")
