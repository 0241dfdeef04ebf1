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
        # Paid with a delayed method (bank debit) that has not settled yet:
        # the date stays occupied until Stripe says it succeeded or failed.
        PAYMENT_PROCESSING = "payment_processing", "Payment processing"
        CONFIRMED = "confirmed", "Confirmed"
        EXPIRED = "expired", "Expired"
        CANCELED = "canceled", "Canceled"

    class CancelReason(models.TextChoices):
        STAFF = "staff", "Canceled by staff"
        HOLD_RELEASED = "hold_released", "Hold released by staff before payment"
        DATE_TAKEN = "date_taken", "Paid after the hold lapsed; the date was taken"

    # Statuses that occupy the date (the partial unique constraint's condition).
    ACTIVE_STATUSES = (Status.HELD, Status.PAYMENT_PROCESSING, Status.CONFIRMED)
    # Cancellations after which any payment goes back in full automatically.
    FULL_REFUND_REASONS = (CancelReason.HOLD_RELEASED, CancelReason.DATE_TAKEN)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="bookings")
    # A package that has bookings cannot be deleted; deactivate it instead.
    package = models.ForeignKey(Package, on_delete=models.PROTECT, related_name="bookings")
    event_date = models.DateField()
    couple_name = models.CharField(max_length=200)
    email = models.EmailField()
    phone = models.CharField(max_length=40, blank=True)
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.HELD)
    hold_expires_at = models.DateTimeField(null=True, blank=True)
    # Keyed hashes of the normalised e-mail and of the client address the
    # hold came from (bookings.hold_limits counts active holds by them);
    # empty for bookings made before the limits or outside the API.
    hold_email_key = models.CharField(max_length=64, blank=True, editable=False)
    hold_client_key = models.CharField(max_length=64, blank=True, editable=False)

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
    cancel_reason = models.CharField(max_length=40, blank=True, choices=CancelReason.choices)
    # Why it expired (empty: the hold lapsed). A booking whose delayed
    # payment failed is never revived by a late `completed` event.
    expire_reason = models.CharField(max_length=40, blank=True)
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
                condition=Q(status__in=["held", "payment_processing", "confirmed"]),
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
                condition=Q(
                    status__in=["held", "payment_processing", "confirmed", "expired", "canceled"]
                ),
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
    """One refund of a booking's payment, from the moment Altar decides it
    (`requested`, the amount reserved so no other refund can take it) through
    Stripe's answer (`pending`, `succeeded`, `failed`, `canceled`). Refunds
    made elsewhere (Stripe's dashboard) arrive as refund.* events and are
    recorded here too. Only `succeeded` counts as refunded.

    `attempt` numbers the Stripe idempotency key: Stripe replays a stored 5xx
    under the same key for 24 h, so after a 5xx or a timeout the platform
    first looks the refund up by its metadata (`altar_refund`) and, only if
    Stripe has none, tries again under the next attempt's key."""

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested (not yet at Stripe)"
        PENDING = "pending", "Pending at Stripe"
        SUCCEEDED = "succeeded", "Refunded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    class Reason(models.TextChoices):
        STAFF_CANCEL = "staff_cancel", "Staff canceled the booking"
        DATE_TAKEN = "date_taken", "Paid after the hold lapsed; the date was taken"
        HOLD_RELEASED = "hold_released", "Paid after staff released the hold"
        STRIPE_DASHBOARD = "stripe_dashboard", "Made outside Altar (Stripe dashboard)"

    # Amounts these statuses hold back from what is still refundable.
    RESERVING_STATUSES = (Status.REQUESTED, Status.PENDING)

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="refunds")
    # NULL until Stripe has answered (NULLs do not collide in the unique constraint).
    stripe_refund_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    amount_cents = models.PositiveBigIntegerField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.REQUESTED)
    reason = models.CharField(max_length=40, choices=Reason.choices)
    attempt = models.PositiveSmallIntegerField(default=1)
    # Set when the last try got a 5xx or timed out: the next one looks first.
    unclear_since = models.DateTimeField(null=True, blank=True)
    # Stripe's failure_reason or error code for a failed refund (never PII).
    failure = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_refund_id"], name="bookings_bookingrefund_stripe_refund_id_uniq"
            ),
            models.CheckConstraint(
                condition=Q(status__in=["requested", "pending", "succeeded", "failed", "canceled"]),
                name="bookings_bookingrefund_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stripe_refund_id or 'refund ' + str(self.pk)} ({self.amount_cents})"

    @property
    def idempotency_key(self) -> str:
        return f"altar-refund-{self.pk}-attempt-{self.attempt}"


class PaymentReview(models.Model):
    """A payment Stripe reported for a booking that does not match it (another
    Checkout Session, amount or currency). The booking is not confirmed by
    it; staff and ops see it until someone resolves it, and the Stripe ids
    and amount say where the money is. Keyed on the Stripe event, so a
    redelivery or replay records it once. No personal data."""

    class Reason(models.TextChoices):
        SESSION_MISMATCH = "session_mismatch", "Checkout Session is not the booking's"
        AMOUNT_MISMATCH = "amount_mismatch", "Amount differs from the booking's"
        CURRENCY_MISMATCH = "currency_mismatch", "Currency differs from the booking's"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="payment_reviews")
    reason = models.CharField(max_length=20, choices=Reason.choices)
    stripe_event_id = models.CharField(max_length=255)
    stripe_checkout_session_id = models.CharField(max_length=255)
    stripe_payment_intent_id = models.CharField(max_length=255, blank=True)
    # What Stripe says was (or is being) paid, as reported in the event.
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    payment_status = models.CharField(max_length=30, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = "payment needing review"
        verbose_name_plural = "payments needing review"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_event_id"], name="bookings_paymentreview_stripe_event_id_uniq"
            ),
            models.CheckConstraint(
                condition=Q(
                    reason__in=["session_mismatch", "amount_mismatch", "currency_mismatch"]
                ),
                name="bookings_paymentreview_reason_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_reason_display()} ({self.stripe_checkout_session_id})"


class BookingDispute(models.Model):
    """A dispute (chargeback) Stripe opened on a booking's payment, as Stripe
    last described it. Keyed on Stripe's dispute id: created/updated/closed
    events in any order and any number of times update one row; a closed
    status is final, and an older event never overwrites a newer one."""

    CLOSED_STATUSES = ("won", "lost", "warning_closed", "prevented")

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="disputes")
    stripe_dispute_id = models.CharField(max_length=255)
    stripe_charge_id = models.CharField(max_length=255, blank=True)
    amount_cents = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    # Stripe's words: reason e.g. "fraudulent", status e.g. "needs_response", "won".
    reason = models.CharField(max_length=40)
    status = models.CharField(max_length=30)
    # `created` of the newest event applied: older deliveries are ignored.
    stripe_event_created = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = "dispute"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_dispute_id"], name="bookings_bookingdispute_stripe_dispute_id_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.stripe_dispute_id} ({self.status})"

    @property
    def is_open(self) -> bool:
        return self.status not in self.CLOSED_STATUSES


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


class ReconcileRun(models.Model):
    """One run of `reconcile_stripe`: what it compared, what differed, what
    it recorded (--fix), for ops (the dashboard shows the newest to
    superusers). An ops record, not tenant data: a run may span every
    tenant (`tenant` NULL), so it has a plain manager and only superusers
    see it. The report holds Stripe ids, amounts and booking ids only
    (never a couple's name or e-mail)."""

    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    since = models.DateTimeField(null=True, blank=True)
    fix = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    # How many Stripe objects were listed (charges, refunds, disputes, fees).
    stripe_objects = models.PositiveIntegerField(default=0)
    fixed = models.PositiveIntegerField(default=0)
    # Differences left after the run (0: the books match).
    remaining = models.PositiveIntegerField(default=0)
    # [{"kind", "message", "tenant", "booking", "stripe_id", "fixed"}], the
    # first REPORT_LIMIT of them.
    report = models.JSONField(default=list)

    REPORT_LIMIT = 200

    objects = models.Manager()

    class Meta:
        verbose_name = "Stripe reconcile run"
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"reconcile {self.started_at:%Y-%m-%d %H:%M} ({self.remaining} left)"
