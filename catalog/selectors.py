"""Catalog reads. Preconditions: run inside the tenant's scope (or
`scopes_disabled()`); every query still filters `tenant=` explicitly."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from catalog.errors import AddOnNotFound, PackageNotFound
from catalog.models import AddOn, Package, PackagePhoto
from tenants.models import Tenant

DISPLAY_ORDER = ("position", "created_at", "id")
PHOTO_ORDER = ("position", "id")


def _with_public_relations(queryset: QuerySet[Package], *, tenant: Tenant) -> QuerySet[Package]:
    """Two extra queries whatever the number of packages: `package.active_add_ons`
    (a list, display order) and `package.photos.all()` (position order)."""
    return queryset.prefetch_related(
        Prefetch(
            "add_ons",
            queryset=AddOn.objects.filter(tenant=tenant, active=True).order_by(*DISPLAY_ORDER),
            to_attr="active_add_ons",
        ),
        Prefetch(
            "photos", queryset=PackagePhoto.objects.filter(tenant=tenant).order_by(*PHOTO_ORDER)
        ),
    )


def package_get(
    *, tenant: Tenant, slug: str, active_only: bool = False, prefetch: bool = False
) -> Package:
    """The tenant's package with that slug, else PackageNotFound (also for
    another tenant's slug). `prefetch=True` loads `active_add_ons` and
    `photos` as package_list does (two more queries)."""
    queryset = Package.objects.filter(tenant=tenant, slug=slug)
    if active_only:
        queryset = queryset.filter(active=True)
    if prefetch:
        queryset = _with_public_relations(queryset, tenant=tenant)
    package = queryset.first()
    if package is None:
        raise PackageNotFound()
    return package


def package_list(*, tenant: Tenant, active_only: bool = True) -> list[Package]:
    """Packages in display order (position, created_at, id), each with
    `active_add_ons` (list, same order) and `photos.all()` prefetched:
    three queries whatever the number of packages, add-ons and photos."""
    queryset = Package.objects.filter(tenant=tenant)
    if active_only:
        queryset = queryset.filter(active=True)
    return list(_with_public_relations(queryset.order_by(*DISPLAY_ORDER), tenant=tenant))


def add_on_get(*, tenant: Tenant, slug: str) -> AddOn:
    add_on = AddOn.objects.filter(tenant=tenant, slug=slug).first()
    if add_on is None:
        raise AddOnNotFound()
    return add_on


def add_on_list(*, tenant: Tenant, active_only: bool = False) -> list[AddOn]:
    """Add-ons in display order (position, created_at, id)."""
    queryset = AddOn.objects.filter(tenant=tenant)
    if active_only:
        queryset = queryset.filter(active=True)
    return list(queryset.order_by(*DISPLAY_ORDER))
