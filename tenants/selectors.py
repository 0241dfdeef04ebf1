from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q
from django.utils import timezone

from tenants.errors import TenantNotFound
from tenants.keys import key_matches, parse_key
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


def api_key_resolve(*, key: str, kind: str) -> ApiKey | None:
    """The valid key row (with its tenant) for a presented key, else None.

    Runs before any tenant is known, hence unscoped: the lookup is by the
    unique prefix and the hash comparison is constant-time.
    """
    parsed = parse_key(key)
    if parsed is None or parsed[0] != kind:
        return None
    now = timezone.now()
    with scopes_disabled():
        api_key = (
            ApiKey.objects.select_related("tenant")
            .filter(prefix=parsed[1], kind=kind, revoked_at__isnull=True)
            .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=now))
            .first()
        )
        if api_key is None or not key_matches(key, api_key.key_hash):
            return None
        if api_key.last_used_at is None or api_key.last_used_at < now - LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)
            api_key.last_used_at = now
    return api_key


def memberships_for_user(*, user: AbstractBaseUser) -> list[TenantMembership]:
    """The user's tenants, oldest link first. Unscoped by nature: it decides the scope."""
    with scopes_disabled():
        return list(
            TenantMembership.objects.select_related("tenant")
            .filter(user=user, tenant__active=True)
            .order_by("id")
        )


def api_key_list(*, tenant: Tenant) -> list[ApiKey]:
    return list(ApiKey.objects.filter(tenant=tenant).order_by("-created_at", "-id"))
