from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection, models
from django.utils import timezone

from tenants.errors import TenantNotFound
from tenants.keys import hash_key, key_matches, parse_key
from tenants.models import ApiKey, Tenant, TenantMembership
from tenants.scoping import scopes_disabled

# last_used_at is written at most this often per key, so the hot read path
# does not turn into a write per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def tenant_get(*, slug: str) -> Tenant:
    try:
        return Tenant.objects.get(slug=slug)
    except Tenant.DoesNotExist:
        raise TenantNotFound(f"No tenant with slug {slug!r}.") from None


def _columns(model: type[models.Model], alias: str) -> tuple[list[str], str]:
    names = [field.attname for field in model._meta.concrete_fields]
    return names, ", ".join(f'{alias}."{field.column}"' for field in model._meta.concrete_fields)


_KEY_FIELDS, _KEY_COLUMNS = _columns(ApiKey, "k")
_TENANT_FIELDS, _TENANT_COLUMNS = _columns(Tenant, "t")
# Every API request runs this lookup, so it is written once as SQL: building
# the same ORM query on each request cost more than the database round trip.
# Same semantics as ApiKey.objects.select_related("tenant").filter(...).
_KEY_LOOKUP_SQL = f"""
    SELECT {_KEY_COLUMNS}, {_TENANT_COLUMNS}
    FROM tenants_apikey k JOIN tenants_tenant t ON t.id = k.tenant_id
    WHERE k.prefix = %s AND k.kind = %s AND k.revoked_at IS NULL
      AND (k.valid_until IS NULL OR k.valid_until > %s)
"""  # noqa: S608 - column names come from the models, values are parameters


def _api_key_by_prefix(*, prefix: str, kind: str, now) -> ApiKey | None:
    with connection.cursor() as cursor:
        cursor.execute(_KEY_LOOKUP_SQL, [prefix, kind, now])
        row = cursor.fetchone()
    if row is None:
        return None
    split = len(_KEY_FIELDS)
    api_key = ApiKey.from_db(connection.alias, _KEY_FIELDS, row[:split])
    tenant = Tenant.from_db(connection.alias, _TENANT_FIELDS, row[split:])
    ApiKey.tenant.field.set_cached_value(api_key, tenant)
    return api_key


def api_key_resolve(*, key: str, kind: str) -> ApiKey | None:
    """The valid key row (with its tenant) for a presented key, else None.

    Runs before any tenant is known, hence unscoped: the lookup is by the
    unique prefix (an index, never a scan) and the hash comparison is
    constant-time. Never cached: a revoked key is refused on the next request.
    """
    parsed = parse_key(key)
    if parsed is None or parsed[0] != kind:
        return None
    now = timezone.now()
    api_key = _api_key_by_prefix(prefix=parsed[1], kind=kind, now=now)
    if api_key is None or not key_matches(key, api_key.key_hash):
        return None
    if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
        with scopes_disabled():
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
        api_key.last_used_at = now
    return api_key


def memberships_for_user(*, user: AbstractBaseUser) -> list[TenantMembership]:
    """The user's tenants, oldest link first. Unscoped by nature: it decides
    the scope. Accepted memberships only: a pending invitation grants nothing."""
    with scopes_disabled():
        return list(
            TenantMembership.objects.select_related("tenant")
            .filter(user=user, tenant__active=True, status=TenantMembership.Status.ACCEPTED)
            .order_by("id")
        )


def api_key_list(*, tenant: Tenant) -> list[ApiKey]:
    return list(ApiKey.objects.filter(tenant=tenant).order_by("-created_at", "-id"))


def invitation_get(*, token: str, now) -> TenantMembership | None:
    """The pending membership a still-valid invitation token belongs to,
    else None (unknown, used, revoked, expired, or the business is
    inactive). Unscoped: the token, not a session, names the tenant."""
    with scopes_disabled():
        return (
            TenantMembership.objects.select_related("tenant", "user")
            .filter(
                invitation_token_hash=hash_key(token),
                status=TenantMembership.Status.PENDING,
                invitation_expires_at__gt=now,
                tenant__active=True,
            )
            .first()
        )
