from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django_scopes import ScopedManager

from tenants.branding import (
    DEFAULT_FONT_STACK,
    DEFAULT_PRIMARY_COLOR,
    DEFAULT_SECONDARY_COLOR,
    FontStack,
)
from tenants.validators import (
    validate_currency,
    validate_hex_color,
    validate_origin,
    validate_tenant_slug,
    validate_timezone,
)

# The pay-in-full plan in the plan's one shape (bookings.money documents it).
PAY_IN_FULL_PLAN = {
    "kind": "full",
    "deposit_percent": None,
    "deposit_cents": None,
    "deposit_refundable": None,
    "balance_days_before": None,
}


class PaymentPlanFields(models.Model):
    """A payment plan (issue 13): pay in full at checkout, or a deposit
    (percent or fixed amount, optionally non-refundable) and the balance
    `plan_balance_days_before` the wedding. The tenant's plan is the default;
    a package may set its own (`plan_kind` empty: the tenant's).
    `payment_plan` is the plan as the API and bookings keep it
    (bookings.money documents the shape)."""

    class PlanKind(models.TextChoices):
        FULL = "full", "Pay in full at booking"
        DEPOSIT_PERCENT = "deposit_percent", "Deposit: a percentage, balance later"
        DEPOSIT_FIXED = "deposit_fixed", "Deposit: a fixed amount, balance later"

    plan_kind = models.CharField(
        max_length=20,
        choices=PlanKind.choices,
        blank=True,
        help_text="Empty: the business's payment plan.",
    )
    plan_deposit_percent = models.PositiveSmallIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
        help_text="Deposit as a percentage of the total (deposit_percent plans).",
    )
    plan_deposit_cents = models.PositiveIntegerField(
        default=0, help_text="Deposit in minor units (deposit_fixed plans)."
    )
    plan_deposit_refundable = models.BooleanField(
        default=True, help_text="Unchecked: a cancellation never refunds the deposit by default."
    )
    plan_balance_days_before = models.PositiveSmallIntegerField(
        default=30,
        validators=[MinValueValidator(1), MaxValueValidator(365)],
        help_text="The balance is charged this many days before the wedding.",
    )

    class Meta:
        abstract = True

    @property
    def payment_plan(self) -> dict | None:
        """None when `plan_kind` is empty (a package using its tenant's)."""
        if not self.plan_kind:
            return None
        if self.plan_kind == self.PlanKind.FULL:
            return dict(PAY_IN_FULL_PLAN)
        percent = self.plan_kind == self.PlanKind.DEPOSIT_PERCENT
        return {
            "kind": "deposit",
            "deposit_percent": self.plan_deposit_percent if percent else None,
            "deposit_cents": None if percent else self.plan_deposit_cents,
            "deposit_refundable": self.plan_deposit_refundable,
            "balance_days_before": self.plan_balance_days_before,
        }


class Tenant(PaymentPlanFields):
    """A wedding business. The root of tenancy: every other business row points here."""

    slug = models.CharField(max_length=50, validators=[validate_tenant_slug])
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    currency = models.CharField(max_length=3, default="usd", validators=[validate_currency])
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])
    contact_email = models.EmailField(blank=True)

    commission_bps = models.PositiveIntegerField(
        default=1000,
        validators=[MaxValueValidator(5000)],
        help_text="Platform commission in basis points (1000 = 10 %).",
    )
    hold_minutes = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(30), MaxValueValidator(1440)],
        help_text="How long a date is held while the couple pays (30–1440).",  # noqa: RUF001
    )
    min_notice_days = models.PositiveIntegerField(
        default=14,
        validators=[MaxValueValidator(730)],
        help_text="Earliest bookable date, in days from the tenant's today.",
    )
    max_advance_days = models.PositiveIntegerField(
        default=730,
        validators=[MinValueValidator(1), MaxValueValidator(1825)],
        help_text="Latest bookable date, in days from the tenant's today.",
    )

    # Unpaid holds at once (bookings.hold_limits); empty: the platform's
    # default (settings HOLD_LIMIT_PER_*).
    hold_limit_per_email = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="Unpaid holds one couple's e-mail may have at once (empty: platform default).",
    )
    hold_limit_per_address = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
        help_text="Unpaid holds from one network address at once (empty: platform default).",
    )
    hold_limit_per_tenant = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(10000)],
        help_text="Unpaid holds of this business at once (empty: platform default).",
    )

    primary_color = models.CharField(
        max_length=7, default=DEFAULT_PRIMARY_COLOR, validators=[validate_hex_color]
    )
    secondary_color = models.CharField(
        max_length=7, default=DEFAULT_SECONDARY_COLOR, validators=[validate_hex_color]
    )
    # A CSS font-family value, one of the supported stacks (tenants/branding.py).
    font_family = models.CharField(
        max_length=100, choices=FontStack.choices, default=DEFAULT_FONT_STACK
    )
    # The booking page's language when the couple's browser asks for none
    # of the platform's languages (settings.LANGUAGES).
    default_language = models.CharField(
        max_length=10,
        default="en",
        choices=settings.LANGUAGES,
        help_text="Language of the booking page when the couple's browser prefers none we offer.",
    )
    logo = models.ImageField(upload_to="tenants/logos/", blank=True)

    # The default payment plan (PaymentPlanFields); packages may override it.
    plan_kind = models.CharField(
        max_length=20, choices=PaymentPlanFields.PlanKind.choices, default="full"
    )

    # Redirect targets after Stripe Checkout; {BOOKING_ID} is substituted.
    # Empty: the hosted status page /bookings/{id}/.
    success_url_template = models.URLField(max_length=500, blank=True)
    cancel_url_template = models.URLField(max_length=500, blank=True)

    # Couples' websites allowed to call the API from a browser (CORS), as
    # origins: "https://juniper.example" (scheme, host, optional port).
    cors_origins = ArrayField(
        models.CharField(max_length=200, validators=[validate_origin]),
        default=list,
        blank=True,
        help_text="Origins of this business's websites, e.g. https://www.example.com",
    )

    stripe_account_id = models.CharField(max_length=64, blank=True)
    # As Stripe last reported the account (re-read on every `account.updated`).
    stripe_charges_enabled = models.BooleanField(default=False)
    # Destination charges need the `transfers` capability active: routing
    # follows this, not charges_enabled.
    stripe_transfers_active = models.BooleanField(default=False)
    # When the account read that set the two flags above started: a read
    # that started earlier never overwrites it (events come in any order).
    stripe_account_checked_at = models.DateTimeField(null=True, blank=True)
    # The account disconnected the platform (`account.application.deauthorized`):
    # nothing is routed to it until ops record an account again.
    stripe_account_deauthorized_at = models.DateTimeField(null=True, blank=True)

    # Bumped (F() + 1) in the same transaction as any catalog or branding
    # write; cache keys carry it, so a write invalidates exactly this tenant's
    # entries, in every process, without touching the cache.
    catalog_version = models.PositiveBigIntegerField(default=1, editable=False)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(PaymentPlanFields.Meta):
        abstract = False
        ordering = ["slug"]
        constraints = [
            models.UniqueConstraint(fields=["slug"], name="tenants_tenant_slug_uniq"),
            models.CheckConstraint(
                condition=Q(commission_bps__lte=5000), name="tenants_tenant_commission_bps_range"
            ),
            models.CheckConstraint(
                condition=Q(hold_minutes__gte=30, hold_minutes__lte=1440),
                name="tenants_tenant_hold_minutes_range",
            ),
            models.CheckConstraint(
                condition=Q(max_advance_days__gt=F("min_notice_days")),
                name="tenants_tenant_booking_window_order",
            ),
            # Branding is written into CSS (tenants/branding.py): the
            # database refuses anything but the validated forms, whatever
            # path writes it.
            models.CheckConstraint(
                condition=Q(primary_color__regex=r"^#[0-9A-Fa-f]{6}$")
                & Q(secondary_color__regex=r"^#[0-9A-Fa-f]{6}$"),
                name="tenants_tenant_colors_hex",
            ),
            models.CheckConstraint(
                condition=Q(font_family__in=FontStack.values),
                name="tenants_tenant_font_family_supported",
            ),
            models.UniqueConstraint(
                fields=["stripe_account_id"],
                condition=~Q(stripe_account_id=""),
                name="tenants_tenant_stripe_account_id_uniq",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def connect_account_for_charges(self) -> str | None:
        """The Connect account to route destination charges to: connected,
        not deauthorized, and with the `transfers` capability active."""
        if (
            self.stripe_account_id
            and self.stripe_transfers_active
            and self.stripe_account_deauthorized_at is None
        ):
            return self.stripe_account_id
        return None


class TenantMembership(models.Model):
    """Links an admin user to a tenant with a role.

    A membership made by an owner in the admin starts `pending`: it grants
    nothing until the invitee accepts the invitation e-mailed to them (the
    owner never sees or sets the account's credentials). Only `accepted`
    memberships count anywhere (tenants.selectors.memberships_for_user is
    the one place the admin resolves the tenant from). The invitation's
    token is stored as a SHA-256 only (256 random bits, so a fast hash is
    enough), issued when the e-mail is sent, single-use and expiring."""

    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        STAFF = "staff", "Staff"

    class Status(models.TextChoices):
        PENDING = "pending", "Invited (pending)"
        ACCEPTED = "accepted", "Accepted"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tenant_memberships"
    )
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.STAFF)
    # Accepted by default: ops (create_staff, seed_demo) link directly; the
    # admin's invitation path sets pending explicitly.
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.ACCEPTED, db_default="accepted"
    )
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    invitation_token_hash = models.CharField(max_length=64, blank=True, default="")
    invitation_expires_at = models.DateTimeField(null=True, blank=True)
    invitation_sent_at = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["tenant_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user"], name="tenants_tenantmembership_tenant_user_uniq"
            ),
            models.UniqueConstraint(
                fields=["invitation_token_hash"],
                condition=~Q(invitation_token_hash=""),
                name="tenants_tenantmembership_invitation_token_uniq",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "accepted"]),
                name="tenants_tenantmembership_status_valid",
            ),
            # A used invitation can never be used again.
            models.CheckConstraint(
                condition=Q(status="pending") | Q(invitation_token_hash=""),
                name="tenants_tenantmembership_accepted_no_token",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.role}) @ {self.tenant_id}"


class ApiKey(models.Model):
    """A tenant's API key. Only a SHA-256 of the key is stored (keys are 190+
    bits of randomness, so a fast hash is enough); `prefix` is an indexed,
    unique slice of the random part used to find the row without a scan."""

    class Kind(models.TextChoices):
        PUBLISHABLE = "publishable", "Publishable"
        SECRET = "secret", "Secret"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    # Publishable keys are public by design (they sit in couples' websites),
    # so the admin may show them again; secret keys are never stored.
    publishable_key = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the key is rotated (end of the grace period) or revoked (now).
    valid_until = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["publishable", "secret"]), name="tenants_apikey_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} key {self.prefix}… ({self.tenant_id})"


class AuditEntry(models.Model):
    """One recorded state change: who (actor), when, what (before/after).

    Append-only: written by tenants.audit in the transaction of the change
    it records; no code path updates or deletes rows, and a database
    trigger (migration 0003) refuses UPDATE and DELETE. `tenant` is PROTECT
    for the same reason (tenants are deactivated, never deleted). Null
    tenant: a platform-level change (e.g. a user account)."""

    class ActorKind(models.TextChoices):
        STAFF = "staff", "Staff user"
        COUPLE = "couple", "Couple (API)"
        STRIPE = "stripe", "Stripe event"
        COMMAND = "command", "Command"
        SYSTEM = "system", "System"

    tenant = models.ForeignKey(
        Tenant, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    actor_kind = models.CharField(max_length=10, choices=ActorKind.choices)
    # Staff username, "stripe:evt_…", "command:<name>", "couple (api)"; never
    # a couple's name or e-mail.
    actor_label = models.CharField(max_length=200, blank=True)
    # PROTECT, not SET_NULL: SET_NULL would UPDATE audit rows, which the
    # trigger refuses. Staff who acted are deactivated, not deleted.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    request_id = models.CharField(max_length=64, blank=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    # {field: [before, after]}; personal data of couples only as "<set>".
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=False)

    objects = ScopedManager(tenant="tenant")

    class Meta:
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index("tenant", F("created_at").desc(), name="tenants_audit_tenant_time_idx"),
            models.Index(fields=["object_type", "object_id"], name="tenants_audit_object_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(actor_kind__in=["staff", "couple", "stripe", "command", "system"]),
                name="tenants_auditentry_actor_kind_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.object_repr}".strip()
