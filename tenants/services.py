"""Writes on tenants, their keys and their staff. One unit of work each."""

from __future__ import annotations

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
from tenants.errors import StaffUserConflict, TenantSlugTaken
from tenants.keys import PREFIX_LENGTH, generate_key, hash_key, parse_key
from tenants.models import ApiKey, Tenant, TenantMembership

# Tenant fields that shape what the public catalog API serves.
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
    if BRANDING_FIELDS & set(fields):
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
    """Create (or find by e-mail) an admin user and link it to the tenant."""
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
    membership, _ = TenantMembership.objects.update_or_create(
        tenant=tenant, user=user, defaults={"role": role}
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
    *, tenant: Tenant, account_id: str, charges_enabled: bool
) -> bool:
    """Stripe says whether the tenant's Connect account can take charges.
    Returns whether anything changed. Checkout reads the flag, so the next
    checkout routes charges (with the commission as application fee) to it."""
    locked = Tenant.objects.select_for_update(of=("self",)).get(pk=tenant.pk)
    if locked.stripe_account_id != account_id or locked.stripe_charges_enabled == charges_enabled:
        return False
    audit_record(
        tenant=tenant,
        action="tenant.connect_updated",
        obj=locked,
        changes={"stripe_charges_enabled": [locked.stripe_charges_enabled, charges_enabled]},
    )
    locked.stripe_charges_enabled = charges_enabled
    locked.save(update_fields=["stripe_charges_enabled", "updated_at"])
    tenant.stripe_charges_enabled = charges_enabled
    return True


# --- memberships (the owner's staff page) -------------------------------------------


def _owner_count_locked(*, tenant: Tenant) -> int:
    """Owners of the tenant, with the tenant row locked: two owners demoting
    or removing each other at once must not leave the tenant with none."""
    Tenant.objects.select_for_update(of=("self",)).filter(pk=tenant.pk).get()
    return TenantMembership.objects.filter(tenant=tenant, role=TenantMembership.Role.OWNER).count()


def _refuse_last_owner(*, tenant: Tenant, membership: TenantMembership) -> None:
    if membership.role == TenantMembership.Role.OWNER and _owner_count_locked(tenant=tenant) <= 1:
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
    audit_record(
        tenant=tenant,
        action="membership.removed",
        obj=membership,
        changes={"user": [membership.user.get_username(), None], "role": [membership.role, None]},
    )
    TenantMembership.objects.filter(pk=membership.pk, tenant=tenant).delete()
