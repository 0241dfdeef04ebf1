"""Writes on tenants, their keys and their staff. One unit of work each."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from config.db import violated_constraint
from tenants.audit import audit_record, diff, snapshot
from tenants.errors import (
    InvitationInvalid,
    InvitationWrongAccount,
    StaffUserConflict,
    TenantSlugTaken,
)
from tenants.keys import PREFIX_LENGTH, generate_key, hash_key, parse_key
from tenants.models import ApiKey, Tenant, TenantMembership
from tenants.scoping import scopes_disabled
from tenants.tasks import staff_invitation_mail

logger = logging.getLogger("altar.tenants")

# Tenant fields that shape what the public catalog API serves.
PAYMENT_PLAN_FIELDS = frozenset(
    {
        "plan_kind",
        "plan_deposit_percent",
        "plan_deposit_cents",
        "plan_deposit_refundable",
        "plan_balance_days_before",
    }
)
BRANDING_FIELDS = frozenset(
    {
        "name",
        "currency",
        "timezone",
        "primary_color",
        "secondary_color",
        "font_family",
        "logo",
        "min_notice_days",
        "max_advance_days",
        "active",
    }
)


_TENANT_SAVE_FIELDS = [
    field.name
    for field in Tenant._meta.concrete_fields
    if not field.primary_key and field.name != "catalog_version"
]


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    key: str  # the only time the plaintext exists


@dataclass(frozen=True)
class RotatedKey:
    issued: IssuedKey
    previous_valid_until: datetime | None


@dataclass(frozen=True)
class CreatedTenant:
    tenant: Tenant
    publishable: IssuedKey
    secret: IssuedKey


def tenant_catalog_changed(*, tenant: Tenant) -> None:
    """Invalidate the tenant's cached catalog. Call inside the write's transaction."""
    Tenant.objects.filter(pk=tenant.pk).update(catalog_version=F("catalog_version") + 1)


@transaction.atomic
def tenant_create(
    *,
    slug: str,
    name: str,
    currency: str = "usd",
    timezone_name: str = "UTC",
    commission_bps: int = 1000,
    **extra: Any,
) -> CreatedTenant:
    tenant = Tenant(
        slug=slug,
        name=name,
        currency=currency,
        timezone=timezone_name,
        commission_bps=commission_bps,
        **extra,
    )
    tenant.full_clean(validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            tenant.save()
    except IntegrityError as exc:
        if violated_constraint(exc) == "tenants_tenant_slug_uniq":
            raise TenantSlugTaken(f"A tenant with slug {slug!r} already exists.") from exc
        raise
    audit_record(
        tenant=tenant,
        action="tenant.created",
        obj=tenant,
        changes=diff(
            {}, snapshot(tenant, ["slug", "name", "currency", "timezone", "commission_bps"])
        ),
    )
    return CreatedTenant(
        tenant=tenant,
        publishable=api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE),
        secret=api_key_issue(tenant=tenant, kind=ApiKey.Kind.SECRET),
    )


@transaction.atomic
def tenant_update(*, tenant: Tenant, **fields: Any) -> Tenant:
    """Change tenant settings; branding changes invalidate the public cache."""
    if "stripe_account_id" in fields and fields["stripe_account_id"] != tenant.stripe_account_id:
        # Another account: nothing is known about it yet (nor is a previous
        # deauthorization about it); its next `account.updated`, re-read
        # from Stripe, decides whether charges are routed to it.
        fields = {
            "stripe_transfers_active": False,
            "stripe_account_checked_at": None,
            "stripe_account_deauthorized_at": None,
            **fields,
        }
    before = snapshot(tenant, fields)
    old_logo = tenant.logo.name if "logo" in fields else ""
    for name, value in fields.items():
        setattr(tenant, name, value)
    tenant.full_clean(validate_unique=False, validate_constraints=False)
    # Never write catalog_version back: the caller's object may predate a
    # catalog write, and rewinding the version would serve the catalog cached
    # under the older number. Only tenant_catalog_changed moves it (F() + 1).
    tenant.save(update_fields=_TENANT_SAVE_FIELDS)
    if old_logo and tenant.logo.name != old_logo:
        # A replaced or cleared logo's file goes once the row surely no
        # longer points at it (a rollback keeps both; a new file written by
        # this save is deleted by the storage on rollback).
        transaction.on_commit(partial(tenant.logo.storage.delete, old_logo), robust=True)
    changed = diff(before, snapshot(tenant, fields))
    if changed:
        audit_record(tenant=tenant, action="tenant.updated", obj=tenant, changes=changed)
    # The packages' API shape carries the tenant's payment plan too.
    if (BRANDING_FIELDS | PAYMENT_PLAN_FIELDS) & set(fields):
        tenant_catalog_changed(tenant=tenant)
        tenant.refresh_from_db(fields=["catalog_version"])
    return tenant


@transaction.atomic
def api_key_issue(*, tenant: Tenant, kind: str, key: str | None = None) -> IssuedKey:
    """A new key. `key` may be given (seed data with a stable demo key)."""
    key = key or generate_key(kind)
    parsed = parse_key(key)
    if parsed is None or parsed[0] != kind:
        raise ValueError("malformed key for its kind")
    api_key = ApiKey.objects.create(
        tenant=tenant,
        kind=kind,
        prefix=parsed[1][:PREFIX_LENGTH],
        key_hash=hash_key(key),
        publishable_key=key if kind == ApiKey.Kind.PUBLISHABLE else "",
    )
    # The prefix only: never the key (a secret key is shown once, then gone).
    audit_record(
        tenant=tenant,
        action="api_key.issued",
        obj=api_key,
        changes={"kind": [None, kind], "prefix": [None, api_key.prefix]},
    )
    return IssuedKey(api_key=api_key, key=key)


@transaction.atomic
def api_key_rotate(*, tenant: Tenant, kind: str, grace_hours: float = 0) -> RotatedKey:
    """Issue a new key; keys of that kind still valid now stay valid for
    `grace_hours` more (0: refused at once)."""
    if grace_hours < 0:
        raise ValueError("grace_hours must not be negative")
    # Serialize rotations per tenant so two concurrent rotations cannot both
    # extend each other's keys.
    Tenant.objects.select_for_update(of=("self",)).filter(pk=tenant.pk).get()
    now = timezone.now()
    until = now + timedelta(hours=grace_hours)
    current = list(
        ApiKey.objects.filter(tenant=tenant, kind=kind, revoked_at__isnull=True)
        .exclude(valid_until__lte=now)
        .order_by("pk")
    )
    previous_valid_until = None
    for api_key in current:
        # A key already on a shorter grace keeps its shorter one.
        before = snapshot(api_key, ["valid_until"])
        api_key.valid_until = min(api_key.valid_until or until, until)
        api_key.save(update_fields=["valid_until"])
        audit_record(
            tenant=tenant,
            action="api_key.rotated",
            obj=api_key,
            changes=diff(before, snapshot(api_key, ["valid_until"])),
        )
        previous_valid_until = max(previous_valid_until or api_key.valid_until, api_key.valid_until)
    return RotatedKey(
        issued=api_key_issue(tenant=tenant, kind=kind), previous_valid_until=previous_valid_until
    )


@transaction.atomic
def api_key_revoke(*, tenant: Tenant, api_key: ApiKey) -> ApiKey:
    if api_key.tenant_id != tenant.pk:
        raise ValueError("key belongs to another tenant")
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
        audit_record(
            tenant=tenant,
            action="api_key.revoked",
            obj=api_key,
            changes=diff({"revoked_at": None}, snapshot(api_key, ["revoked_at"])),
        )
    return api_key


@dataclass(frozen=True)
class LinkedStaff:
    user: Any
    membership: TenantMembership
    user_created: bool
    password_reset_path: str | None  # when no password was given


@transaction.atomic
def staff_link(
    *, tenant: Tenant, email: str, role: str, password: str | None = None
) -> LinkedStaff:
    """Create (or find by e-mail) an admin user and link it to the tenant.

    For platform operators only (`create_staff`, `seed_demo`): it links an
    existing account without its consent. Owners invite (staff_invite)."""
    User = get_user_model()
    email = User.objects.normalize_email(email).strip()
    users = list(User.objects.select_for_update().filter(email__iexact=email)[:2])
    if len(users) > 1:
        raise StaffUserConflict()
    created = not users
    user = users[0] if users else User(username=email.lower(), email=email)
    user.is_staff = True
    if password:
        user.set_password(password)
    elif created:
        user.set_unusable_password()
    user.save()
    previous_role = (
        None
        if created
        else TenantMembership.objects.filter(tenant=tenant, user=user)
        .values_list("role", flat=True)
        .first()
    )
    previous_status = (
        TenantMembership.objects.filter(tenant=tenant, user=user)
        .values_list("status", flat=True)
        .first()
    )
    # Ops act for the platform: the link counts at once (a pending
    # invitation for the same person is settled by it).
    membership, _ = TenantMembership.objects.update_or_create(
        tenant=tenant,
        user=user,
        defaults={
            "role": role,
            "status": TenantMembership.Status.ACCEPTED,
            "invitation_token_hash": "",
            "invitation_expires_at": None,
        },
    )
    if previous_status == TenantMembership.Status.PENDING:
        audit_record(
            tenant=tenant,
            action="membership.accepted",
            obj=membership,
            changes={"status": [previous_status, TenantMembership.Status.ACCEPTED]},
        )
    if previous_role != role:
        audit_record(
            tenant=tenant,
            action="membership.created" if previous_role is None else "membership.role_changed",
            obj=membership,
            changes={
                **({"user": [None, user.get_username()]} if previous_role is None else {}),
                "role": [previous_role, role],
            },
        )
    reset_path = None
    if not password and not user.has_usable_password():
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        reset_path = f"/accounts/reset/{uid}/{default_token_generator.make_token(user)}/"
    return LinkedStaff(
        user=user, membership=membership, user_created=created, password_reset_path=reset_path
    )


def staff_password_from_env() -> str | None:
    return os.environ.get("ALTAR_STAFF_PASSWORD") or None


@transaction.atomic
def tenant_connect_account_update(
    *,
    tenant: Tenant,
    account_id: str,
    charges_enabled: bool,
    transfers_active: bool,
    checked_at: datetime,
) -> bool:
    """Record the Connect account as Stripe reported it, read at `checked_at`
    (when the read started). Returns whether anything changed. Checkout
    routes destination charges on `stripe_transfers_active`. A read that
    started before the one already recorded is stale and changes nothing
    (two deliveries can race); a deauthorized account stays unrouted."""
    locked = Tenant.objects.select_for_update(of=("self",)).get(pk=tenant.pk)
    if locked.stripe_account_id != account_id or locked.stripe_account_deauthorized_at:
        return False
    if locked.stripe_account_checked_at and checked_at <= locked.stripe_account_checked_at:
        return False
    before = {
        "stripe_charges_enabled": locked.stripe_charges_enabled,
        "stripe_transfers_active": locked.stripe_transfers_active,
    }
    after = {"stripe_charges_enabled": charges_enabled, "stripe_transfers_active": transfers_active}
    locked.stripe_charges_enabled = charges_enabled
    locked.stripe_transfers_active = transfers_active
    locked.stripe_account_checked_at = checked_at
    locked.save(
        update_fields=[
            "stripe_charges_enabled",
            "stripe_transfers_active",
            "stripe_account_checked_at",
            "updated_at",
        ]
    )
    for name, value in after.items():
        setattr(tenant, name, value)
    changes = diff(before, after)
    if not changes:
        return False
    audit_record(tenant=tenant, action="tenant.connect_updated", obj=locked, changes=changes)
    return True


@transaction.atomic
def tenant_connect_account_deauthorize(*, tenant: Tenant, account_id: str) -> bool:
    """The Connect account disconnected the platform
    (`account.application.deauthorized`): stop routing charges to it. Once
    per account (returns False for a repeat or another account); audited
    and logged at ERROR for ops, who record a new account to route again."""
    locked = Tenant.objects.select_for_update(of=("self",)).get(pk=tenant.pk)
    if locked.stripe_account_id != account_id or locked.stripe_account_deauthorized_at:
        return False
    now = timezone.now()
    audit_record(
        tenant=tenant,
        action="tenant.connect_deauthorized",
        obj=locked,
        changes={
            "stripe_account_deauthorized_at": [None, now.isoformat()],
            "stripe_transfers_active": [locked.stripe_transfers_active, False],
            "stripe_charges_enabled": [locked.stripe_charges_enabled, False],
        },
    )
    locked.stripe_account_deauthorized_at = now
    locked.stripe_transfers_active = locked.stripe_charges_enabled = False
    locked.save(
        update_fields=[
            "stripe_account_deauthorized_at",
            "stripe_transfers_active",
            "stripe_charges_enabled",
            "updated_at",
        ]
    )
    tenant.stripe_account_deauthorized_at = now
    tenant.stripe_transfers_active = tenant.stripe_charges_enabled = False
    logger.error(
        "Stripe Connect account %s of tenant %s deauthorized the platform: "
        "charges are no longer routed to it",
        account_id,
        tenant.slug,
    )
    return True


# --- memberships (the owner's staff page) -------------------------------------------


def _owner_count_locked(*, tenant: Tenant) -> int:
    """Owners of the tenant, with the tenant row locked: two owners demoting
    or removing each other at once must not leave the tenant with none."""
    Tenant.objects.select_for_update(of=("self",)).filter(pk=tenant.pk).get()
    return TenantMembership.objects.filter(
        tenant=tenant,
        role=TenantMembership.Role.OWNER,
        status=TenantMembership.Status.ACCEPTED,
    ).count()


def _refuse_last_owner(*, tenant: Tenant, membership: TenantMembership) -> None:
    # A pending owner is nobody yet: only accepted owners keep a business run.
    if (
        membership.role == TenantMembership.Role.OWNER
        and membership.status == TenantMembership.Status.ACCEPTED
        and _owner_count_locked(tenant=tenant) <= 1
    ):
        raise ValidationError(
            "A business needs at least one owner: make someone else owner first.",
            code="last_owner",
        )


@transaction.atomic
def membership_role_change(
    *, tenant: Tenant, membership: TenantMembership, role: str
) -> TenantMembership:
    if membership.tenant_id != tenant.pk:
        raise ValueError("membership belongs to another tenant")
    membership = TenantMembership.objects.select_for_update(of=("self",)).get(
        pk=membership.pk, tenant=tenant
    )
    if membership.role == role:
        return membership
    if role != TenantMembership.Role.OWNER:
        _refuse_last_owner(tenant=tenant, membership=membership)
    before = snapshot(membership, ["role"])
    membership.role = role
    membership.full_clean(validate_unique=False, validate_constraints=False)
    membership.save(update_fields=["role"])
    audit_record(
        tenant=tenant,
        action="membership.role_changed",
        obj=membership,
        changes=diff(before, snapshot(membership, ["role"])),
    )
    return membership


@transaction.atomic
def membership_remove(*, tenant: Tenant, membership: TenantMembership) -> None:
    """Unlink a user from the tenant (the user account stays: audit entries
    point at it, and it may work for other tenants)."""
    if membership.tenant_id != tenant.pk:
        raise ValueError("membership belongs to another tenant")
    _refuse_last_owner(tenant=tenant, membership=membership)
    if membership.status == TenantMembership.Status.PENDING:
        # Revoking an invitation: its link dies with the row.
        audit_record(
            tenant=tenant,
            action="invitation.revoked",
            obj=membership,
            object_repr=_invitation_repr(membership.user.email, membership.role),
            changes={"role": [membership.role, None]},
        )
    else:
        audit_record(
            tenant=tenant,
            action="membership.removed",
            obj=membership,
            changes={
                "user": [membership.user.get_username(), None],
                "role": [membership.role, None],
            },
        )
    TenantMembership.objects.filter(pk=membership.pk, tenant=tenant).delete()


# --- invitations (owners add staff) ----------------------------------------------


def _invitation_repr(email: str, role: str) -> str:
    # Named by the address the owner typed (lower-cased), never by the
    # account's username: the owner must not learn whether, or how, an
    # account existed before.
    return f"invitation {email.lower()} ({role})"


@dataclass(frozen=True)
class Invited:
    membership: TenantMembership
    # False when the address already had a pending invitation here (it is
    # re-sent). Never says whether an account existed.
    created: bool


@transaction.atomic
def staff_invite(*, tenant: Tenant, email: str, role: str, invited_by: Any = None) -> Invited:
    """Invite someone by e-mail: a pending membership (it grants nothing) and
    an invitation e-mail through the outbox. The same steps whether or not
    an account with this e-mail exists anywhere: one is created, without a
    usable password and without admin access, when none does.

    Refuses (ValidationError `already_member`) only when the address is
    already an accepted member of this tenant, which the owner can see in
    their own staff list anyway."""
    User = get_user_model()
    email = User.objects.normalize_email(email).strip()
    Tenant.objects.select_for_update(of=("self",)).filter(pk=tenant.pk).get()
    existing = (
        TenantMembership.objects.select_for_update(of=("self",))
        .filter(tenant=tenant, user__email__iexact=email)
        .order_by("pk")
        .first()
    )
    if existing is not None and existing.status == TenantMembership.Status.ACCEPTED:
        raise ValidationError(
            {
                "email": ValidationError(
                    "Already on the team: change their role instead.", code="already_member"
                )
            }
        )
    if existing is not None:
        membership, created = existing, False
        if membership.role != role:
            membership.role = role
            membership.save(update_fields=["role"])
    else:
        user = User.objects.filter(email__iexact=email).order_by("pk").first()
        if user is None:
            user = User(username=email.lower(), email=email, is_staff=False)
            user.set_unusable_password()
            try:
                with transaction.atomic():
                    user.save()
            except IntegrityError:
                # Another business invited the same new address at the same
                # moment (the username is unique): use the account it made.
                user = User.objects.get(username=email.lower())
                if user.email.lower() != email.lower():
                    # An account whose username is this address but whose
                    # e-mail is another: never invite (and mail) it.
                    raise StaffUserConflict() from None
        membership = TenantMembership.objects.create(
            tenant=tenant,
            user=user,
            role=role,
            status=TenantMembership.Status.PENDING,
            invited_by=invited_by if getattr(invited_by, "pk", None) else None,
        )
        created = True
    audit_record(
        tenant=tenant,
        action="invitation.created" if created else "invitation.resent",
        obj=membership,
        object_repr=_invitation_repr(email, role),
        changes={"role": [None, role]} if created else {},
    )
    staff_invitation_mail.enqueue(membership_id=membership.pk)
    return Invited(membership=membership, created=created)


@transaction.atomic
def invitation_resend(*, tenant: Tenant, membership: TenantMembership) -> TenantMembership:
    """A fresh e-mail with a fresh link (the previous link stops working when
    the new one is issued); refused once accepted."""
    if membership.tenant_id != tenant.pk:
        raise ValueError("membership belongs to another tenant")
    locked = (
        TenantMembership.objects.select_for_update(of=("self",))
        .filter(pk=membership.pk, tenant=tenant)
        .select_related("user")
        .first()
    )
    if locked is None or locked.status != TenantMembership.Status.PENDING:
        raise ValidationError("Only a pending invitation can be re-sent.", code="not_pending")
    audit_record(
        tenant=tenant,
        action="invitation.resent",
        obj=locked,
        object_repr=_invitation_repr(locked.user.email, locked.role),
    )
    staff_invitation_mail.enqueue(membership_id=locked.pk)
    return locked


def _pending_invitation_locked(*, token: str, now: datetime) -> TenantMembership:
    with scopes_disabled():
        membership = (
            TenantMembership.objects.select_for_update(of=("self",))
            .select_related("tenant", "user")
            .filter(
                invitation_token_hash=hash_key(token),
                status=TenantMembership.Status.PENDING,
                invitation_expires_at__gt=now,
                tenant__active=True,
            )
            .first()
        )
    if membership is None:
        raise InvitationInvalid()
    return membership


@transaction.atomic
def invitation_accept(
    *,
    token: str,
    user: Any = None,
    password: str | None = None,
    now: datetime | None = None,
) -> TenantMembership:
    """Accept an invitation: the membership counts from now on, the token is
    spent. An account without a usable password (made for this invitation,
    or never set up) gets `password` here: holding the e-mailed link proves
    control of the address, as a reset link would. An account with a
    password must be the signed-in `user` (it logged in to accept).

    Raises InvitationInvalid (unknown, used, revoked or expired token) or
    InvitationWrongAccount."""
    now = now or timezone.now()
    membership = _pending_invitation_locked(token=token, now=now)
    invitee = membership.user
    if invitee.has_usable_password():
        if user is None or getattr(user, "pk", None) != invitee.pk:
            raise InvitationWrongAccount()
    else:
        if not password:
            raise ValueError("an account without a password needs one to accept")
        invitee.set_password(password)
    invitee.is_staff = True
    invitee.save()
    membership.status = TenantMembership.Status.ACCEPTED
    membership.accepted_at = now
    membership.invitation_token_hash = ""
    membership.invitation_expires_at = None
    with scopes_disabled():
        membership.save(
            update_fields=[
                "status",
                "accepted_at",
                "invitation_token_hash",
                "invitation_expires_at",
            ]
        )
    audit_record(
        tenant=membership.tenant,
        action="membership.accepted",
        obj=membership,
        changes={"status": [TenantMembership.Status.PENDING, TenantMembership.Status.ACCEPTED]},
    )
    return membership
