"""Catalog cache (tenant isolation): SCENARIOS.md, every line.

Reads go through the public API (what couples see) or through catalog.cache
directly where the exact number of queries is the point. Writes go through
catalog.services, which bump the tenant's catalog_version.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from PIL import Image
from rest_framework.test import APIClient

from catalog import services
from catalog.cache import (
    catalog_package_detail_cached,
    catalog_package_list_cached,
    package_detail_key,
    package_list_key,
)
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tenants.services import tenant_update
from tests.conftest import publishable_key_for

pytestmark = pytest.mark.django_db


def _client(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_TENANT_KEY=key)
    return client


def _fresh(tenant: Tenant) -> Tenant:
    """The tenant as a new request would load it (current catalog_version)."""
    return Tenant.objects.get(pk=tenant.pk)


def _prices(response) -> dict[str, int]:
    assert response.status_code == 200
    return {p["slug"]: p["price_cents"] for p in response.json()["results"]}


def _package(tenant: Tenant, slug: str, price_cents: int, **extra) -> None:
    with tenant_scope(tenant):
        services.package_create(
            tenant=tenant, slug=slug, title=slug.title(), price_cents=price_cents, **extra
        )


@pytest.fixture
def same_slug(tenant, other_tenant):
    """Both tenants sell `classic`, at different prices."""
    _package(tenant, "classic", 100_000)
    _package(other_tenant, "classic", 250_000)


# --- keys --------------------------------------------------------------------


def test_cache_keys_carry_tenant_id_and_catalog_version(tenant, other_tenant):
    tenant = _fresh(tenant)
    other_tenant = _fresh(other_tenant)

    list_a = package_list_key(tenant=tenant)
    list_b = package_list_key(tenant=other_tenant)
    detail_a = package_detail_key(tenant=tenant, slug="classic")

    assert list_a == f"altar:catalog:v1:{tenant.pk}:{tenant.catalog_version}:packages"
    assert detail_a == f"altar:catalog:v1:{tenant.pk}:{tenant.catalog_version}:package:classic"
    assert list_a != list_b
    assert package_detail_key(tenant=other_tenant, slug="classic") != detail_a


# --- two tenants, same slug, different prices ----------------------------------


def test_same_slug_in_two_tenants_each_reads_its_own_cold_then_warm(
    same_slug, tenant_api, other_tenant_api
):
    for _ in ("cold", "warm"):
        assert tenant_api.get("/api/v1/packages/classic").json()["price_cents"] == 100_000
        assert other_tenant_api.get("/api/v1/packages/classic").json()["price_cents"] == 250_000
        assert _prices(tenant_api.get("/api/v1/packages")) == {"classic": 100_000}
        assert _prices(other_tenant_api.get("/api/v1/packages")) == {"classic": 250_000}


def test_same_slug_warm_in_one_tenant_does_not_answer_the_other(
    same_slug, tenant_api, other_tenant_api
):
    # given A's entries are warm and B's are cold
    assert tenant_api.get("/api/v1/packages/classic").json()["price_cents"] == 100_000
    assert _prices(tenant_api.get("/api/v1/packages")) == {"classic": 100_000}

    # when B reads the same slug, then it gets its own row, not A's cached one
    assert other_tenant_api.get("/api/v1/packages/classic").json()["price_cents"] == 250_000
    assert _prices(other_tenant_api.get("/api/v1/packages")) == {"classic": 250_000}


@pytest.mark.django_db(transaction=True)
def test_same_slug_concurrent_readers_of_two_tenants_each_read_their_own(tenant, other_tenant):
    # given both tenants sell `classic` and nothing is cached
    _package(tenant, "classic", 100_000)
    _package(other_tenant, "classic", 250_000)
    keys = {100_000: publishable_key_for(tenant), 250_000: publishable_key_for(other_tenant)}
    expected = [price for price in (100_000, 250_000) for _ in range(5)]
    barrier = threading.Barrier(len(expected))
    results: list[object] = [None] * len(expected)

    def reader(index: int, key: str) -> None:
        try:
            client = _client(key)
            barrier.wait()
            detail = client.get("/api/v1/packages/classic")
            listing = client.get("/api/v1/packages")
            results[index] = (
                detail.status_code,
                detail.json()["price_cents"],
                listing.status_code,
                _prices(listing),
            )
        except Exception as exc:  # noqa: BLE001 - reported in the assertion
            results[index] = exc
        finally:
            connections.close_all()

    # when ten readers (five per tenant) start together, on a cold cache
    threads = [
        threading.Thread(target=reader, args=(i, keys[price])) for i, price in enumerate(expected)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then every reader saw its own tenant's price, in detail and list
    assert results == [(200, price, 200, {"classic": price}) for price in expected]


# --- invalidation ------------------------------------------------------------------


def test_write_in_one_tenant_invalidates_only_its_entries(
    same_slug, tenant, other_tenant, tenant_api, other_tenant_api, django_assert_num_queries
):
    # given both tenants' list and detail are warm
    for client in (tenant_api, other_tenant_api):
        client.get("/api/v1/packages")
        client.get("/api/v1/packages/classic")
    other_version = _fresh(other_tenant).catalog_version

    # when A changes its package
    with tenant_scope(tenant):
        services.package_update(tenant=tenant, slug="classic", price_cents=111_111)

    # then B's entries are still warm: no catalog query at all
    fresh_other = _fresh(other_tenant)
    assert fresh_other.catalog_version == other_version
    with tenant_scope(fresh_other), django_assert_num_queries(0):
        assert catalog_package_list_cached(tenant=fresh_other)[0]["price_cents"] == 250_000
        detail = catalog_package_detail_cached(tenant=fresh_other, slug="classic")
        assert detail["price_cents"] == 250_000
    # ... and B's API read costs only its key lookup
    with django_assert_num_queries(1):
        assert other_tenant_api.get("/api/v1/packages/classic").json()["price_cents"] == 250_000
    # while A reads its new price
    assert tenant_api.get("/api/v1/packages/classic").json()["price_cents"] == 111_111
    assert _prices(tenant_api.get("/api/v1/packages")) == {"classic": 111_111}


def test_update_invalidates_list_and_detail(tenant, tenant_api):
    # given a package whose list and detail are warm
    _package(tenant, "classic", 100_000, description="Before")
    assert tenant_api.get("/api/v1/packages/classic").json()["description"] == "Before"
    assert tenant_api.get("/api/v1/packages").json()["results"][0]["description"] == "Before"

    # when it is updated
    with tenant_scope(tenant):
        services.package_update(
            tenant=tenant, slug="classic", description="After", price_cents=120_000
        )

    # then both entries answer the new values
    detail = tenant_api.get("/api/v1/packages/classic").json()
    listed = tenant_api.get("/api/v1/packages").json()["results"]
    assert (detail["description"], detail["price_cents"]) == ("After", 120_000)
    assert [(p["description"], p["price_cents"]) for p in listed] == [("After", 120_000)]


def test_rename_serves_new_slug_and_404s_old_one_at_once(tenant, tenant_api):
    # given the old slug is warm, and the new one is cached as "not found"
    _package(tenant, "classic", 100_000)
    assert tenant_api.get("/api/v1/packages/classic").status_code == 200
    assert tenant_api.get("/api/v1/packages/timeless").status_code == 404
    assert _prices(tenant_api.get("/api/v1/packages")) == {"classic": 100_000}

    # when the package is renamed
    with tenant_scope(tenant):
        services.package_update(tenant=tenant, slug="classic", new_slug="timeless")

    # then the new slug answers, the old one is 404 not_found, the list has the new one
    assert tenant_api.get("/api/v1/packages/timeless").json()["slug"] == "timeless"
    old = tenant_api.get("/api/v1/packages/classic")
    assert old.status_code == 404
    assert old.json()["error"]["code"] == "not_found"
    assert _prices(tenant_api.get("/api/v1/packages")) == {"timeless": 100_000}


@pytest.mark.parametrize("change", ["delete", "deactivate"])
def test_deleted_or_deactivated_package_leaves_the_cached_list_at_once(tenant, tenant_api, change):
    # given two packages, list and detail warm
    _package(tenant, "classic", 100_000, position=1)
    _package(tenant, "sunset", 200_000, position=2)
    assert _prices(tenant_api.get("/api/v1/packages")) == {"classic": 100_000, "sunset": 200_000}
    assert tenant_api.get("/api/v1/packages/sunset").status_code == 200

    # when one is deleted / deactivated
    with tenant_scope(tenant):
        if change == "delete":
            services.package_delete(tenant=tenant, slug="sunset")
        else:
            services.package_update(tenant=tenant, slug="sunset", active=False)

    # then it is gone from the list and its detail is 404
    listing = tenant_api.get("/api/v1/packages").json()
    assert listing["count"] == 1
    assert _prices(tenant_api.get("/api/v1/packages")) == {"classic": 100_000}
    assert tenant_api.get("/api/v1/packages/sunset").status_code == 404


def test_add_on_change_refreshes_every_package_offering_it(tenant, tenant_api):
    # given two packages offering `flowers` (and one that does not), all warm
    with tenant_scope(tenant):
        services.add_on_create(tenant=tenant, slug="flowers", title="Flowers", price_cents=5_000)
    _package(tenant, "classic", 100_000, position=1, add_on_slugs=["flowers"])
    _package(tenant, "sunset", 200_000, position=2, add_on_slugs=["flowers"])
    _package(tenant, "simple", 50_000, position=3)
    for slug in ("classic", "sunset", "simple"):
        tenant_api.get(f"/api/v1/packages/{slug}")
    tenant_api.get("/api/v1/packages")

    # when the add-on's price and title change
    with tenant_scope(tenant):
        services.add_on_update(tenant=tenant, slug="flowers", price_cents=7_500, title="Peonies")

    # then every package offering it shows the new add-on, in detail and list
    new = [{"slug": "flowers", "title": "Peonies", "description": "", "price_cents": 7_500}]
    assert tenant_api.get("/api/v1/packages/classic").json()["add_ons"] == new
    assert tenant_api.get("/api/v1/packages/sunset").json()["add_ons"] == new
    assert tenant_api.get("/api/v1/packages/simple").json()["add_ons"] == []
    listed = tenant_api.get("/api/v1/packages").json()["results"]
    assert [p["add_ons"] for p in listed] == [new, new, []]

    # and deactivating it removes it from every package at once
    with tenant_scope(tenant):
        services.add_on_update(tenant=tenant, slug="flowers", active=False)
    assert tenant_api.get("/api/v1/packages/classic").json()["add_ons"] == []
    listed = tenant_api.get("/api/v1/packages").json()["results"]
    assert [p["add_ons"] for p in listed] == [[], [], []]


def test_currency_change_refreshes_cached_packages(tenant, tenant_api):
    # given the package list is warm in usd
    _package(tenant, "classic", 100_000)
    assert tenant_api.get("/api/v1/packages/classic").json()["currency"] == "usd"

    # when the tenant's currency changes (a branding write)
    tenant_update(tenant=_fresh(tenant), currency="eur")

    # then packages are served in the new currency
    assert tenant_api.get("/api/v1/packages/classic").json()["currency"] == "eur"
    assert tenant_api.get("/api/v1/packages").json()["results"][0]["currency"] == "eur"


def test_tenant_update_from_a_stale_object_does_not_rewind_the_catalog_version(tenant, tenant_api):
    # given a Tenant object loaded before a catalog write, the empty catalog
    # cached under the old version and the new state under the new one
    stale = _fresh(tenant)
    assert _prices(tenant_api.get("/api/v1/packages")) == {}
    _package(tenant, "classic", 100_000)
    after_write = _fresh(tenant).catalog_version
    assert _prices(tenant_api.get("/api/v1/packages")) == {"classic": 100_000}

    # when a non-catalog setting is saved through that stale object
    tenant_update(tenant=stale, hold_minutes=45)

    # then the version did not go back (which would serve an old cached catalog)
    assert _fresh(tenant).catalog_version == after_write
    assert _prices(tenant_api.get("/api/v1/packages")) == {"classic": 100_000}


# --- cost of a warm read ------------------------------------------------------------


def test_warm_read_costs_zero_catalog_queries(tenant, tenant_api, django_assert_num_queries):
    # given a catalog with add-ons, list and detail read once (cold)
    with tenant_scope(tenant):
        services.add_on_create(tenant=tenant, slug="flowers", title="Flowers", price_cents=5_000)
    _package(tenant, "classic", 100_000, add_on_slugs=["flowers"])
    tenant_api.get("/api/v1/packages")
    tenant_api.get("/api/v1/packages/classic")
    tenant_api.get("/api/v1/packages/unknown")

    # when read again: the one query is the X-Tenant-Key lookup (which also
    # loads the tenant and its catalog_version). It is deliberately never
    # cached, so a revoked key is refused on the very next request.
    for path in ("/api/v1/packages", "/api/v1/packages/classic", "/api/v1/packages/unknown"):
        with django_assert_num_queries(1) as captured:
            tenant_api.get(path)
        assert "tenants_apikey" in captured.captured_queries[0]["sql"]

    # and the cache functions themselves cost nothing at all
    fresh = _fresh(tenant)
    with tenant_scope(fresh), django_assert_num_queries(0):
        assert [p["slug"] for p in catalog_package_list_cached(tenant=fresh)] == ["classic"]
        assert catalog_package_detail_cached(tenant=fresh, slug="classic")["slug"] == "classic"
        assert catalog_package_detail_cached(tenant=fresh, slug="unknown") is None


def test_malformed_slug_costs_no_query_and_no_cache_entry(tenant, django_assert_num_queries):
    fresh = _fresh(tenant)
    with tenant_scope(fresh), django_assert_num_queries(0):
        assert catalog_package_detail_cached(tenant=fresh, slug="Not A Slug:*") is None
        assert catalog_package_detail_cached(tenant=fresh, slug="a" * 51) is None


def test_cold_reads_run_the_selectors_once_then_cache(tenant, django_assert_num_queries):
    _package(tenant, "classic", 100_000)
    fresh = _fresh(tenant)
    calls: list[Callable[[], object]] = [
        lambda: catalog_package_list_cached(tenant=fresh),
        lambda: catalog_package_detail_cached(tenant=fresh, slug="classic"),
    ]
    with tenant_scope(fresh):
        for call in calls:
            # packages, add-ons, photos
            with django_assert_num_queries(3):
                cold = call()
            with django_assert_num_queries(0):
                assert call() == cold


def test_photo_and_add_on_removal_refresh_the_cache(tenant, tenant_api, settings, tmp_path):
    # given a package with a photo and an add-on, warm
    settings.MEDIA_ROOT = tmp_path
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="PNG")
    with tenant_scope(tenant):
        services.add_on_create(tenant=tenant, slug="flowers", title="Flowers", price_cents=5_000)
    _package(tenant, "classic", 100_000, add_on_slugs=["flowers"])
    with tenant_scope(tenant):
        photo = services.package_photo_add(
            tenant=tenant,
            package_slug="classic",
            image=SimpleUploadedFile("p.png", buffer.getvalue(), content_type="image/png"),
            alt="Rings",
        )
    warm = tenant_api.get("/api/v1/packages/classic").json()
    assert [p["alt"] for p in warm["photos"]] == ["Rings"]
    assert [a["slug"] for a in warm["add_ons"]] == ["flowers"]

    # when the photo's alt text changes, then the change is served
    with tenant_scope(tenant):
        services.package_photo_update(tenant=tenant, photo_id=photo.pk, alt="Vows")
    assert [p["alt"] for p in tenant_api.get("/api/v1/packages/classic").json()["photos"]] == [
        "Vows"
    ]

    # when the photo and the add-on are deleted, then both are gone at once
    with tenant_scope(tenant):
        services.package_photo_delete(tenant=tenant, photo_id=photo.pk)
        services.add_on_delete(tenant=tenant, slug="flowers")
    detail = tenant_api.get("/api/v1/packages/classic").json()
    listed = tenant_api.get("/api/v1/packages").json()["results"][0]
    assert (detail["photos"], detail["add_ons"]) == ([], [])
    assert (listed["photos"], listed["add_ons"]) == ([], [])


@pytest.mark.django_db(transaction=True)
def test_reads_racing_a_write_leave_no_stale_entry_behind(tenant):
    # given a package, and a cold cache
    _package(tenant, "classic", 100_000)
    key = publishable_key_for(tenant)
    readers = 6
    barrier = threading.Barrier(readers + 1)
    results: list[object] = [None] * (readers + 1)

    def read(index: int) -> None:
        try:
            client = _client(key)
            barrier.wait()
            results[index] = (
                client.get("/api/v1/packages/classic").json()["price_cents"],
                _prices(client.get("/api/v1/packages"))["classic"],
            )
        except Exception as exc:  # noqa: BLE001 - reported in the assertion
            results[index] = exc
        finally:
            connections.close_all()

    def write(index: int) -> None:
        try:
            barrier.wait()
            with tenant_scope(tenant):
                services.package_update(tenant=tenant, slug="classic", price_cents=200_000)
            results[index] = "written"
        except Exception as exc:  # noqa: BLE001 - reported in the assertion
            results[index] = exc
        finally:
            connections.close_all()

    # when readers fill the cache while the price changes
    threads = [threading.Thread(target=read, args=(i,)) for i in range(readers)]
    threads.append(threading.Thread(target=write, args=(readers,)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # then each racing reader saw the old or the new price, never an error...
    assert results[readers] == "written"
    for result in results[:readers]:
        assert result in {(a, b) for a in (100_000, 200_000) for b in (100_000, 200_000)}
    # ...and every read after the write sees the new price, in detail and list
    client = _client(key)
    assert client.get("/api/v1/packages/classic").json()["price_cents"] == 200_000
    assert _prices(client.get("/api/v1/packages")) == {"classic": 200_000}
