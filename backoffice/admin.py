"""The audit log in the admin, read as sentences (backoffice.audit_sentences).

Registered here rather than in tenants/admin.py: the sentences know the
vocabulary of every app above tenants, which only the backoffice may import.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils import formats, timezone
from django.utils.html import format_html

from backoffice.audit_sentences import entry_changes_json, entry_sentence
from tenants.admin_base import TenantScopedAdmin
from tenants.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(TenantScopedAdmin):
    """Append-only: nobody adds, edits or deletes entries here (the database
    refuses UPDATE/DELETE too). Staff see their tenant's entries (scoped
    manager); superusers every tenant's, with the tenant column and filter.
    Each entry reads as a sentence; the recorded before/after is on the
    entry's page, folded under "Recorded change"."""

    # Who did it is in the sentence; the kind of actor stays a filter.
    list_display = ("when", "sentence")
    list_display_links = ("when", "sentence")
    list_filter = ("action", "actor_kind", "object_type", "created_at")
    search_fields = ("object_id", "actor_label")
    search_help_text = "Search by the changed object's id or who made the change"
    date_hierarchy = "created_at"
    fieldsets = (
        (None, {"fields": ("created_at", "sentence", "actor_kind")}),
        (
            "Recorded change",
            {
                "classes": ["collapse"],
                "fields": (
                    "action",
                    "object_type",
                    "object_id",
                    "object_repr",
                    "actor_label",
                    "actor_user",
                    "request_id",
                    "recorded_changes",
                ),
            },
        ),
    )
    readonly_fields = (
        "created_at",
        "sentence",
        "actor_kind",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "actor_label",
        "actor_user",
        "request_id",
        "recorded_changes",
    )
    list_select_related = ("tenant", "actor_user")

    @admin.display(description="When", ordering="created_at")
    def when(self, entry: AuditEntry) -> str:
        return formats.date_format(timezone.localtime(entry.created_at), "DATETIME_FORMAT")

    @admin.display(description="What happened")
    def sentence(self, entry: AuditEntry) -> str:
        return entry_sentence(entry)

    @admin.display(description="Before and after")
    def recorded_changes(self, entry: AuditEntry) -> str:
        # A plain <pre>: unfold's JSON widget colours with inline styles,
        # which the admin's Content-Security-Policy refuses.
        return format_html('<pre class="altar-raw">{}</pre>', entry_changes_json(entry))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
