"""Catalog writes under real concurrency: threads with their own database
connections, released together by a barrier; the (tenant, slug) unique
constraints and the package row lock decide."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from catalog import services
from catalog.errors import SlugTaken
from catalog.models import AddOn, Package
from tenants.models import Tenant
from tenants.scoping import scopes_disabled, tenant_scope
from tests.concurrency import run_together
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)


def in_scope(tenant: Tenant, call: Callable[[], object]) -> Callable[[], object]:
    def scoped() -> object:
        with tenant_scope(tenant):
            return call()

    return scoped


def outcome(result: object) -> str:
    if isinstance(result, Package | AddOn):
        return "created"
    if isinstance(result, SlugTaken):
        return result.code
    return repr(result)


def catalog_version(tenant: Tenant) -> int:
    return Tenant.objects.get(pk=tenant.pk).catalog_version


def test_five_concurrent_package_creations_with_distinct_slugs_make_five_rows():
    tenant = TenantFactory()
    version = catalog_version(tenant)

    results = run_together(
        [
            in_scope(
                tenant,
                lambda i=i: services.package_create(
                    tenant=tenant,
                    slug=f"package-{i}",
                    title=f"Package {i}",
                    price_cents=1000 * (i + 1),
                ),
            )
            for i in range(5)
        ]
    )

    assert [outcome(r) for r in results] == ["created"] * 5
    with scopes_disabled():
        assert sorted(Package.objects.values_list("slug", "price_cents")) == [
            (f"package-{i}", 1000 * (i + 1)) for i in range(5)
        ]
    assert catalog_version(tenant) == version + 5


def test_five_concurrent_package_creations_of_one_slug_make_one_row():
    tenant = TenantFactory()
    version = catalog_version(tenant)

    results = run_together(
        [
            in_scope(
                tenant,
                lambda i=i: services.package_create(
                    tenant=tenant, slug="elopement", title=f"Contender {i}", price_cents=100 + i
                ),
            )
            for i in range(5)
        ]
    )

    assert Counter(outcome(r) for r in results) == {"created": 1, "slug_taken": 4}
    [winner] = [r for r in results if isinstance(r, Package)]
    with scopes_disabled():
        assert list(Package.objects.values_list("pk", "slug", "title")) == [
            (winner.pk, "elopement", winner.title)
        ]
    assert catalog_version(tenant) == version + 1


def test_five_concurrent_add_on_creations_of_one_slug_make_one_row():
    tenant = TenantFactory()

    results = run_together(
        [
            in_scope(
                tenant,
                lambda: services.add_on_create(
                    tenant=tenant, slug="flowers", title="Flowers", price_cents=100
                ),
            )
            for _ in range(5)
        ]
    )

    assert Counter(outcome(r) for r in results) == {"created": 1, "slug_taken": 4}
    with scopes_disabled():
        assert AddOn.objects.count() == 1


def test_the_same_slug_created_concurrently_in_two_tenants_makes_two_rows():
    tenants = [TenantFactory(), TenantFactory()]

    results = run_together(
        [
            in_scope(
                t,
                lambda t=t: services.package_create(
                    tenant=t, slug="elopement", title="Elopement", price_cents=1_000
                ),
            )
            for t in tenants
        ]
    )

    assert [outcome(r) for r in results] == ["created", "created"]
    with scopes_disabled():
        assert sorted(Package.objects.values_list("tenant_id", "slug")) == sorted(
            (t.pk, "elopement") for t in tenants
        )


def test_three_concurrent_updates_of_one_package_leave_one_of_their_titles():
    tenant = TenantFactory()
    with tenant_scope(tenant):
        package = services.package_create(
            tenant=tenant, slug="elopement", title="Original", price_cents=1_000
        )
    version = catalog_version(tenant)
    titles = ["Title A", "Title B", "Title C"]

    results = run_together(
        [
            in_scope(
                tenant,
                lambda title=title: services.package_update(
                    tenant=tenant, slug="elopement", title=title
                ),
            )
            for title in titles
        ]
    )

    assert [outcome(r) for r in results] == ["created"] * 3  # each returned its Package
    with scopes_disabled():
        [(pk, final_title)] = Package.objects.values_list("pk", "title")
    assert pk == package.pk
    assert final_title in titles
    assert catalog_version(tenant) == version + 3


def test_concurrent_renames_onto_one_slug_let_exactly_one_win():
    tenant = TenantFactory()
    with tenant_scope(tenant):
        for slug in ("a", "b", "c"):
            services.package_create(tenant=tenant, slug=slug, title=slug, price_cents=1_000)

    results = run_together(
        [
            in_scope(
                tenant,
                lambda slug=slug: services.package_update(
                    tenant=tenant, slug=slug, new_slug="winner"
                ),
            )
            for slug in ("a", "b", "c")
        ]
    )

    assert Counter(outcome(r) for r in results) == {"created": 1, "slug_taken": 2}
    losers = [slug for slug, r in zip("abc", results, strict=True) if isinstance(r, SlugTaken)]
    with scopes_disabled():
        assert sorted(Package.objects.values_list("slug", flat=True)) == sorted(["winner", *losers])
