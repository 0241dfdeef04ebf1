from django.db import models
from django_scopes import ScopedManager

from tenants.models import Tenant


class StripeEvent(models.Model):
    """Our processing of one Stripe event (dj-stripe's WebhookEventTrigger
    keeps every raw delivery). Stripe event ids are global, so the id alone
    is unique. Error fields never hold personal data: a type and a fixed,
    PII-free description only."""

    class Status(models.TextChoices):
        PROCESSED = "processed", "Processed"
        FAILED = "failed", "Failed"
        IGNORED = "ignored", "Ignored"

    # Statuses after which a redelivery has nothing left to do.
    DONE_STATUSES = (Status.PROCESSED, Status.IGNORED)

    event_id = models.CharField(max_length=255)
    type = models.CharField(max_length=100)
    # Null when the event names no tenant we know: kept for ops, no effect.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="stripe_events"
    )
    connect_account_id = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    outcome = models.CharField(
        max_length=200,
        blank=True,
        help_text="What our processing did, or why it ignored the event.",
    )
    attempts = models.PositiveIntegerField(default=0)
    last_error_type = models.CharField(max_length=200, blank=True)
    last_error_message = models.CharField(max_length=500, blank=True)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = "Stripe event"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event_id"], name="webhooks_stripeevent_event_id_uniq"),
            models.CheckConstraint(
                condition=models.Q(status__in=["processed", "failed", "ignored"]),
                name="webhooks_stripeevent_status_valid",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "received_at"], name="webhooks_status_received_idx"),
            models.Index(fields=["tenant", "-received_at"], name="webhooks_tenant_received_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} ({self.type}, {self.status})"
