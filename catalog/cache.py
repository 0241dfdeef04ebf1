"""Per-tenant cache of the public catalog (what GET /api/v1/packages serves).

Keys carry the tenant id *and* the tenant's `catalog_version`. Every catalog
write, and every branding change (currency is part of a Package), bumps that
version in its own transaction (tenants.services.tenant_catalog_changed), so
invalidation is "the next reader computes a new key": no delete to forget,
nothing of another tenant touched, correct in every process sharing the cache.
Entries of old versions are never read again and simply age out.

Values are JSON-ready dicts, never model instances (safe to pickle into
Redis, immune to lazy queries). Photo URLs are stored as the storage gives
them (relative for the file system); the view makes them absolute per
request, because one tenant's cache serves every host name it is reached by.
A media bucket gives absolute URLs that never expire (public objects, see
docs/deploy.md "Media"): a presigned URL could expire inside an entry that
is still being served, which the check altar.E031 prevents.

Precondition of every function: `tenant` was loaded *after* the last write
you want to see. The API loads it in the key lookup of the same request; a
caller holding an older Tenant object must `refresh_from_db()` it first,
else it reads the entries of the older version.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import cache

from catalog.errors import PackageNotFound
from catalog.models import SLUG_VALIDATOR, Package
from catalog.selectors import package_get, package_list
from tenants.models import Tenant

# Old versions are unreachable once bumped; the timeout only bounds how long
# their entries occupy memory.
CATALOG_CACHE_SECONDS = 60 * 60
KEY_PREFIX = "altar:catalog:v1"
# Stored for an unknown slug, so repeated 404s cost no query either.
_NOT_FOUND = "not_found"
_MISS = object()

SLUG_RE = SLUG_VALIDATOR.regex
SLUG_MAX_LENGTH = Package._meta.get_field("slug").max_length

PackageData = dict[str, Any]


def _key(tenant: Tenant, *parts: str) -> str:
    if tenant.pk is None:
        raise ValueError("the catalog cache needs a saved tenant")
    return ":".join((KEY_PREFIX, str(tenant.pk), str(tenant.catalog_version), *parts))


def package_list_key(*, tenant: Tenant) -> str:
    return _key(tenant, "packages")


def package_detail_key(*, tenant: Tenant, slug: str) -> str:
    """Only for well-formed slugs (see _is_slug), so the key stays short,
    ':'-free and safe for every cache backend."""
    return _key(tenant, "package", slug)


def _is_slug(value: str) -> bool:
    # Anything else cannot name a stored package: answer "not found" without
    # a query and without letting arbitrary URL text into cache keys.
    return len(value) <= SLUG_MAX_LENGTH and SLUG_RE.fullmatch(value) is not None


def _package_data(package: Package, *, tenant: Tenant) -> PackageData:
    """A Package as the API shows it. Needs package_list/package_get(prefetch=True)."""
    return {
        # The package's own plan, else its tenant's (no query: `tenant` is here).
        "payment_plan": package.payment_plan or tenant.payment_plan,
        "slug": package.slug,
        "title": package.title,
        "description": package.description,
        "price_cents": package.price_cents,
        "currency": tenant.currency,
        "photos": [
            {
                "url": photo.image.url,
                "alt": photo.alt,
                "width": photo.width,
                "height": photo.height,
                "thumbnails": [
                    {
                        "url": photo.image.storage.url(thumb["name"]),
                        "width": thumb["width"],
                        "height": thumb["height"],
                    }
                    for thumb in photo.thumbnails
                ],
            }
            for photo in package.photos.all()
        ],
        "add_ons": [
            {
                "slug": add_on.slug,
                "title": add_on.title,
                "description": add_on.description,
                "price_cents": add_on.price_cents,
            }
            for add_on in package.active_add_ons
        ],
    }


def catalog_package_list_cached(*, tenant: Tenant) -> list[PackageData]:
    """The tenant's active packages in display order, as API dicts. A miss
    costs three queries (packages, add-ons, photos); a hit costs none.
    Run inside the tenant's scope."""
    key = package_list_key(tenant=tenant)
    data = cache.get(key, _MISS)
    if data is _MISS:
        data = [
            _package_data(package, tenant=tenant)
            for package in package_list(tenant=tenant, active_only=True)
        ]
        cache.set(key, data, CATALOG_CACHE_SECONDS)
    return data


def catalog_package_detail_cached(*, tenant: Tenant, slug: str) -> PackageData | None:
    """One active package as an API dict, or None (unknown, inactive, or
    another tenant's slug). Misses are cached too, under the same version:
    a rename bumps the version, so the old slug 404s at once.
    Run inside the tenant's scope."""
    if not _is_slug(slug):
        return None
    key = package_detail_key(tenant=tenant, slug=slug)
    data = cache.get(key, _MISS)
    if data is _MISS:
        try:
            package = package_get(tenant=tenant, slug=slug, active_only=True, prefetch=True)
        except PackageNotFound:
            data = _NOT_FOUND
        else:
            data = _package_data(package, tenant=tenant)
        cache.set(key, data, CATALOG_CACHE_SECONDS)
    return None if data == _NOT_FOUND else data
