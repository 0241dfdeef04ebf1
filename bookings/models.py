import datetime as dt
import uuid

from django.db import models
from django.db.models import Q
from django.utils import formats, timezone
from django_scopes import ScopedManager

from catalog.models import AddOn, Package
from tenants.models import PAY_IN_FULL_PLAN, Tenant


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
        COUPLE = "couple", "Canceled by the couple (manage my booking)"
        HOLD_RELEASED = "hold_released", "Hold released by staff before payment"
        DATE_TAKEN = "date_taken", "Paid after the hold lapsed; the date was taken"

    # Statuses that occupy the date (the partial unique constraint's condition).
    ACTIVE_STATUSES = (Status.HELD, Status.PAYMENT_PROCESSING, Status.CONFIRMED)
    # Cancellations after which any payment goes back in full automatically.
    FULL_REFUND_REASONS = (CancelReason.HOLD_RELEASED, CancelReason.DATE_TAKEN)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: (tenant, event_date) and (tenant, -created_at)
    # both start with it, and a lone tenant_id index tempted the planner to
    # read all of a tenant's bookings for a date range.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, related_name="bookings", db_index=False
    )
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
    # The payment plan in force at checkout (bookings.money's shape), kept:
    # later changes to the tenant's or package's plan never alter it.
    payment_plan = models.JSONField(default=dict, blank=True)
    # Deposit plans: what checkout charges, and when the rest is due (the
    # tenant's date). NULL due date: the booking pays in full at checkout.
    deposit_cents = models.PositiveBigIntegerField(default=0)
    balance_due_on = models.DateField(null=True, blank=True)
    balance_state = models.CharField(max_length=12, blank=True, default="")
    # The platform account's Customer and the card saved at checkout
    # (setup_future_usage=off_session) that the balance is charged to.
    stripe_customer_id = models.CharField(max_length=255, blank=True)
    stripe_payment_method_id = models.CharField(max_length=255, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    # "Already sent" guards: a retried e-mail task does not mail twice.
    confirmation_mailed_at = models.DateTimeField(null=True, blank=True)
    cancellation_mailed_at = models.DateTimeField(null=True, blank=True)

    # The terms the couple accepted at checkout (issue 14): the version
    # row is never edited, so this is exactly the text they agreed to.
    terms_version = models.ForeignKey(
        "TermsVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    terms_accepted_at = models.DateTimeField(null=True, blank=True)
    terms_accepted_name = models.CharField(max_length=200, blank=True)
    terms_accepted_address = models.CharField(max_length=64, blank=True)
    # The couple's answers to the tenant's booking questions, by question
    # key (text, integer, choice or ISO date), validated by
    # bookings.agreements.answers_clean.
    answers = models.JSONField(default=dict, blank=True)
    # The tenant's cancellation tiers when the couple checked out (see
    # BookingPolicy.cancellation_tiers): the policy this booking is under.
    # NULL for bookings made before policies existed (staff decide).
    cancellation_policy = models.JSONField(null=True, blank=True)
    # RFC 5545 SEQUENCE of the booking's calendar event: each change that
    # re-sends the invitation (a new date, a cancellation) increments it.
    ics_sequence = models.PositiveIntegerField(default=0)
    # Date changes the couple made themselves (the policy caps them).
    couple_date_changes = models.PositiveSmallIntegerField(default=0)

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
            # The hold-limit count (hold_limits_check) reads one tenant's
            # active holds; without it the planner reads every tenant's.
            models.Index(
                fields=["tenant", "hold_expires_at"],
                condition=Q(status="held"),
                name="bookings_tenant_held_idx",
            ),
            models.Index(fields=["tenant", "-created_at"], name="bookings_tenant_created_idx"),
        ]

    def __str__(self) -> str:
        # The page title staff read: "13 Dec 2026 · Ada & Grace" (the
        # locale's one date format; the status has its own badge).
        when = self.event_date
        if isinstance(when, dt.date):
            when = formats.date_format(when, "DATE_FORMAT")
        return f"{when} · {self.couple_name}"

    class BalanceState(models.TextChoices):
        NONE = "", "Paid in full at booking"
        SCHEDULED = "scheduled", "Scheduled"
        CHARGING = "charging", "Being charged"
        FAILED = "failed", "Charge failed: pay link sent"
        PAID = "paid", "Paid"

    @property
    def plan_in_force(self) -> dict:
        """The plan kept at checkout; bookings from before plans paid in full."""
        return self.payment_plan or dict(PAY_IN_FULL_PLAN)

    @property
    def due_at_checkout_cents(self) -> int:
        """What the Checkout Session charges: the deposit, or the whole."""
        return self.deposit_cents if self.balance_due_on else self.amount_cents

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


class BookingPayment(models.Model):
    """One payment of a booking: the deposit (the Checkout payment; the whole
    price when the booking pays in full), the balance (charged off-session or
    paid through a pay link), what a date change left due (its pay link) or
    an offline payment staff recorded. Only
    `succeeded` counts as paid; bookings.money derives a booking's figures
    from these rows.

    A balance charge is claimed once (`charge_balances`) and sent from the
    outbox under `idempotency_key`; after a 5xx or a timeout the next run
    looks the PaymentIntent up by its `altar_payment` metadata before it
    moves to the next attempt's key, as refunds do."""

    class Kind(models.TextChoices):
        DEPOSIT = "deposit", "Deposit (paid at booking)"
        BALANCE = "balance", "Balance"
        OFFLINE = "offline", "Offline (recorded by staff)"
        DATE_CHANGE = "change", "Date change (difference and fee)"

    class Status(models.TextChoices):
        REQUESTED = "requested", "Requested (not yet at Stripe)"
        OPEN = "open", "Pay link open"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="payments")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=12, choices=Status.choices)
    amount_cents = models.PositiveBigIntegerField()
    application_fee_cents = models.PositiveBigIntegerField(default=0)
    stripe_payment_intent_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    stripe_checkout_session_id = models.CharField(max_length=255, blank=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    attempt = models.PositiveSmallIntegerField(default=1)
    unclear_since = models.DateTimeField(null=True, blank=True)
    # Stripe's error code for a failed charge (card_declined, authentication_required).
    failure = models.CharField(max_length=100, blank=True)
    # Offline payments: how it was paid (bank transfer, cash), no personal data.
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    succeeded_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_payment_intent_id"],
                name="bookings_bookingpayment_stripe_payment_intent_id_uniq",
            ),
            # One off-session balance charge in flight per booking: the
            # database refuses a second claim whatever the concurrency.
            models.UniqueConstraint(
                fields=["booking"],
                condition=Q(kind="balance", status="requested"),
                name="bookings_bookingpayment_one_balance_charge_uniq",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["deposit", "balance", "offline", "change"]),
                name="bookings_bookingpayment_kind_valid",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["requested", "open", "succeeded", "failed", "canceled"]),
                name="bookings_bookingpayment_status_valid",
            ),
        ]

    def __str__(self) -> str:
        # No amount here: this is what the admin shows for the row, and staff
        # read money in units next to it (the ledger columns), never in cents.
        return f"{self.get_kind_display()} ({self.get_status_display().lower()})"

    @property
    def idempotency_key(self) -> str:
        return f"altar-balance-{self.pk}-attempt-{self.attempt}"


class BookingReminder(models.Model):
    """One reminder e-mail of one kind for one booking: the row is the
    "exactly once" (unique per booking and kind), inserted in the
    transaction that queues its mail task; `sent_at` is set after sending."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.CASCADE, related_name="reminders")
    kind = models.CharField(max_length=40)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["booking", "kind"], name="bookings_bookingreminder_booking_kind_uniq"
            )
        ]

    def __str__(self) -> str:
        return self.kind


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
        COUPLE_CANCEL = "couple_cancel", "The couple canceled under the policy"
        DATE_CHANGE = "date_change", "The new date costs less"
        DATE_TAKEN = "date_taken", "Paid after the hold lapsed; the date was taken"
        HOLD_RELEASED = "hold_released", "Paid after staff released the hold"
        STRIPE_DASHBOARD = "stripe_dashboard", "Made outside Altar (Stripe dashboard)"

    # Amounts these statuses hold back from what is still refundable.
    RESERVING_STATUSES = (Status.REQUESTED, Status.PENDING)

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="refunds")
    # The payment it returns (NULL: a Stripe-dashboard refund of a payment
    # Altar has no row for).
    payment = models.ForeignKey(
        BookingPayment, on_delete=models.PROTECT, null=True, blank=True, related_name="refunds"
    )
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


class TermsVersion(models.Model):
    """One published version of a tenant's terms. Published versions are
    never edited: a change is a new version, so what earlier couples
    accepted stays what they read. The highest version is the one in force."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    version = models.PositiveIntegerField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = "terms version"
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "version"], name="bookings_termsversion_tenant_version_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"Terms v{self.version}"


class BookingQuestion(models.Model):
    """A question the tenant asks on the booking page (and the API accepts
    under `answers.<key>`), e.g. "Number of guests"."""

    class Kind(models.TextChoices):
        TEXT = "text", "Text"
        NUMBER = "number", "Whole number"
        CHOICE = "choice", "Choice"
        DATE = "date", "Date"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    key = models.SlugField(
        max_length=50,
        help_text="The answer's name in the API and the CSV export (e.g. guests).",
    )
    label = models.CharField(max_length=200)
    help_text = models.CharField(max_length=300, blank=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.TEXT)
    choices = models.TextField(blank=True, help_text="For a choice: one option per line.")
    required = models.BooleanField(default=False)
    position = models.PositiveIntegerField(default=0)
    active = models.BooleanField(default=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "key"], name="bookings_bookingquestion_tenant_key_uniq"
            ),
            models.CheckConstraint(
                condition=Q(kind__in=["text", "number", "choice", "date"]),
                name="bookings_bookingquestion_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def options(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]


class BookingPolicy(models.Model):
    """A tenant's cancellation and change rules. The cancellation tiers in
    force at checkout are copied onto the booking (Booking.cancellation_policy),
    so a later edit never changes what a couple agreed to. A tenant without
    a row has the defaults below (no tiers: staff decide every refund)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="+")
    # [{"days_before": 180, "refund_percent": 100}, ...]: cancelled at least
    # `days_before` days before the wedding, the couple gets
    # `refund_percent` % of what they paid (less any non-refundable deposit).
    cancellation_tiers = models.JSONField(default=list, blank=True)
    self_cancel_allowed = models.BooleanField(
        default=False,
        help_text="Couples may cancel from 'manage my booking' (else they send a request).",
    )
    date_change_allowed = models.BooleanField(
        default=False, help_text="Couples may move their date from 'manage my booking'."
    )
    date_change_min_days = models.PositiveIntegerField(
        default=30, help_text="Couples may move their date up to this many days before it."
    )
    date_change_max_count = models.PositiveIntegerField(
        default=1, help_text="How many times a couple may move their date."
    )
    date_change_fee_cents = models.PositiveBigIntegerField(
        default=0, help_text="Charged for each date change a couple makes (minor units)."
    )
    answers_edit_min_days = models.PositiveIntegerField(
        default=14,
        help_text="Couples may edit their answers up to this many days before the wedding.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = "booking policy"
        verbose_name_plural = "booking policy"

    def __str__(self) -> str:
        return "Cancellation and change policy"


class CancellationRequest(models.Model):
    """A couple asked to cancel while the tenant handles cancellations
    itself (self-cancel off). Staff see open requests on the dashboard and
    resolve them by canceling (or not) in the admin. One open request per
    booking."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(
        Booking, on_delete=models.PROTECT, related_name="cancellation_requests"
    )
    message = models.TextField(blank=True, max_length=2000)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["booking"],
                condition=Q(resolved_at__isnull=True),
                name="bookings_cancellationrequest_booking_open_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"Cancellation request {self.pk}"


class BookingDateChange(models.Model):
    """One move of a confirmed booking to another date, with what it did to
    the money: the new price of the package and add-ons on the new date
    (`price_difference_cents`, negative when it costs less), the change fee,
    the refund of a lower price (through the refund ledger), and what is
    still due (charged through a pay link: a Checkout Session for the
    difference)."""

    class By(models.TextChoices):
        STAFF = "staff", "Staff"
        COUPLE = "couple", "Couple"

    class Payment(models.TextChoices):
        NONE = "none", "Nothing to pay"
        DUE = "due", "Awaiting payment"
        PAID = "paid", "Paid"
        # A later change replaced it while its difference was still due: its
        # pay link is expired, and paid anyway it is refunded in full.
        SUPERSEDED = "superseded", "Replaced by a later change"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    booking = models.ForeignKey(Booking, on_delete=models.PROTECT, related_name="date_changes")
    from_date = models.DateField()
    to_date = models.DateField()
    by = models.CharField(max_length=10, choices=By.choices)
    amount_before_cents = models.PositiveBigIntegerField()
    amount_after_cents = models.PositiveBigIntegerField()
    price_difference_cents = models.BigIntegerField()
    fee_cents = models.PositiveBigIntegerField(default=0)
    refund_cents = models.PositiveBigIntegerField(default=0)
    due_cents = models.PositiveBigIntegerField(default=0)
    payment = models.CharField(max_length=10, choices=Payment.choices, default=Payment.NONE)
    stripe_checkout_session_id = models.CharField(max_length=255, null=True, blank=True)  # noqa: DJ001
    checkout_url = models.URLField(max_length=2000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    # "Already sent" guards for the outbox's e-mail tasks.
    mailed_at = models.DateTimeField(null=True, blank=True)
    pay_link_mailed_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["stripe_checkout_session_id"],
                name="bookings_bookingdatechange_session_uniq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_date} → {self.to_date}"


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
