from django.contrib import admin

from tenants.admin_base import TenantScopedAdmin
from webhooks.models import StripeEvent


@admin.register(StripeEvent)
class StripeEventAdmin(TenantScopedAdmin):
    """Read-only: events are Stripe's record; ops re-run them with replay_webhooks."""

    list_display = (
        "event_id",
        "type",
        "status",
        "attempts",
        "outcome",
        "received_at",
        "processed_at",
    )
    list_filter = ("status", "type")
    search_fields = ("event_id",)
    date_hierarchy = "received_at"
    readonly_fields = (
        "event_id",
        "type",
        "tenant",
        "connect_account_id",
        "status",
        "outcome",
        "attempts",
        "last_error_type",
        "last_error_message",
        "payload",
        "received_at",
        "processed_at",
    )
    exclude = ()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
