import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_scopes import ScopedManager

from catalog.models import AddOn, Package
from tenants.models import Tenant


class Booking(models.Model):
    class Status(models.TextChoices):
        HELD = "held", "Held"
        CONFIRMED = "confirmed", "Confirmed"
        EXPIRED = "expired", "Expired"
        CANCELED = "canceled", "Canceled"

    # Statuses that occupy the date (the partial unique constraint's condition).
    ACTIVE_STATUSES = (Status.HELD, Status.CONFIRMED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="bookings")
    # A package that has bookings cannot be deleted; deactivate it instead.
    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="bookings")
    event_date = models.DateField()
    couple_name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.HELD)
    hold_expires_at = models.DateTimeField(null=True, blank=True)

    # Money, in minor units, fixed at checkout.
    amount_cents = models.PositiveBigIntegerField()
    currency = models.CharField(max_length=3)
    commission_bps = models.PositiveIntegerField()
    commission_cents = models.PositiveBigIntegerField()
    paid_cents = models.PositiveBigIntegerField(default=0)
    refunded_cents = models.PositiveBigIntegerField(default=0)
    commission_refunded_cents = models.PositiveBigIntegerField(default=0)

    # NULL, not "", until Stripe assigns them: the unique constraints must
    # admit many bookings without one.
    stripe_checkout_session_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    stripe_payment_intent_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    # The Connect account the charge went to (empty: the platform account).
    stripe_account_id = models.CharField(max_length=64, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=40, blank=True)
    # The language the couple booked in (settings.LANGUAGES): their e-mails
    # are written in it. Empty: the tenant's default language.
    language = models.CharField(max_length=10, blank=True)
    # "Already sent" guards: a retried e-mail task does not mail twice.
    confirmation_mailed_at = models.DateTimeField(null=True, blank=True)
    cancellation_mailed_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one held or confirmed booking per tenant and date, under
            # any concurrency: the database, not a pre-check, decides.
            models.UniqueConstraint(
                fields=["tenant", "event_date"],
                condition=Q(status__in=["held", "confirmed"]),
                name="bookings_booking_tenant_event_date_active_uniq",
            ),
            models.UniqueConstraint(
                fields=["stripe_checkout_session_id"],
                name="bookings_booking_stripe_checkout_session_id_uniq",
            ),
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                name="bookings_booking_stripe_payment_intent_id_uniq",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["held", "confirmed", "expired", "canceled"]),
                name="bookings_booking_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(refunded_cents__lte=models.F("paid_cents")),
                name="bookings_booking_refund_not_above_paid",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant", "event_date"], name="bookings_tenant_date_idx"),
            models.Index(fields=["status", "hold_expires_at"], name="bookings_status_hold_idx"),
            models.Index(fields=["tenant", "-created_at"], name="bookings_tenant_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_date} · {self.couple_name} ({self.status})"

    @property
    def public_status(self) -> str:
        """A hold that has lapsed is `expired` to everyone at once, whether or
        not `expire_holds` (or a new hold on the date) has marked it yet."""
        if self.status == self.Status.HELD and self.hold_lapsed:
            return self.Status.EXPIRED
        return self.status

    @property
    def hold_lapsed(self) -> bool:
        return self.hold_expires_at is not None and self.hold_expires_at <= timezone.now()


class BookingAddOn(models.Model):
    """An add-on line as sold: its title and price at checkout are kept even
    if the add-on changes or goes away later."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="add_on_lines")
    add_on = models.ForeignKey(AddOn, on_delete=models.SET_NULL, null=True, related_name="+")
    slug = models.CharField(max_length=50)
    title = models.CharField(max_length=200)
    price_cents = models.PositiveIntegerField()

    objects = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = "booked add-on"
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["booking", "slug"], name="bookings_bookingaddon_booking_slug_uniq"
            )
        ]

    def __str__(self) -> str:
        return self.title


class BookingRefund(models.Model):
    """A refund as Stripe made it, whoever asked for it (staff cancel, the
    late-payment rule, or the Stripe dashboard via `charge.refunded`). Keyed
    on Stripe's refund id, so recording the same refund twice is a no-op."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="refunds")
    stripe_refund_id = models.CharField(max_length=255)
    amount_cents = models.PositiveBigIntegerField()
    status = models.CharField(max_length=20, default="succeeded")
    # Why: "staff_cancel", "date_taken" or "stripe_dashboard".
    reason = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_refund_id"], name="bookings_bookingrefund_stripe_refund_id_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.stripe_refund_id} ({self.amount_cents})"


class BlackoutDate(models.Model):
    """A date the tenant does not sell (holiday, private event...)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="blackout_dates")
    date = models.DateField()
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "date"], name="bookings_blackoutdate_tenant_date_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.date} {self.reason}".strip()


class IdempotencyRecord(models.Model):
    """One `Idempotency-Key` of `POST /checkout`: the request's fingerprint
    and, once done, the answer to replay for 24 hours. The unique constraint
    makes two concurrent first uses of a key resolve to one owner."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        DONE = "done", "Done"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=12, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    objects = ScopedManager(tenant="tenant")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "key"], name="bookings_idempotencyrecord_tenant_key_uniq"
            )
        ]
        indexes = [models.Index(fields=["created_at"], name="bookings_idem_created_idx")]

    def __str__(self) -> str:
        return self.key
