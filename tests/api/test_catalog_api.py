"""GET /api/v1/packages and /api/v1/packages/{slug} (API.md §1)."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from catalog import services
from catalog.models import Package
from tenants.models import PAY_IN_FULL_PLAN, Tenant
from tenants.scoping import tenant_scope

pytestmark = pytest.mark.django_db


def png(width: int = 3, height: int = 2) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 120, 90)).save(buffer, format="PNG")
    return SimpleUploadedFile("photo.png", buffer.getvalue(), content_type="image/png")


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def add_on(tenant: Tenant, slug: str, price_cents: int, **extra) -> None:
    with tenant_scope(tenant):
        services.add_on_create(
            tenant=tenant, slug=slug, title=slug.title(), price_cents=price_cents, **extra
        )


def package(tenant: Tenant, slug: str, price_cents: int = 100_000, **extra) -> None:
    with tenant_scope(tenant):
        services.package_create(
            tenant=tenant, slug=slug, title=slug.title(), price_cents=price_cents, **extra
        )


def photo(tenant: Tenant, package_slug: str, **extra) -> str:
    with tenant_scope(tenant):
        return services.package_photo_add(
            tenant=tenant, package_slug=package_slug, image=png(), **extra
        ).image.url


# --- shape ---------------------------------------------------------------------------


def test_package_detail_has_the_contract_shape(tenant, tenant_api, media):
    # given a package with two photos and add-ons (one inactive)
    add_on(tenant, "flowers", 5_000, description="Peonies", position=2)
    add_on(tenant, "drone", 30_000, position=1)
    add_on(tenant, "retired", 1_000, active=False)
    package(
        tenant,
        "classic",
        123_456,
        description="Vows éçà at sunset",
        add_on_slugs=["flowers", "drone", "retired"],
    )
    second = photo(tenant, "classic", alt="Cliffs", position=2)
    first = photo(tenant, "classic", alt="Rings", position=1)

    # when
    response = tenant_api.get("/api/v1/packages/classic")

    # then photos and add-ons are in display order, inactive add-on omitted
    assert response.status_code == 200
    assert response.json() == {
        "slug": "classic",
        "title": "Classic",
        "description": "Vows éçà at sunset",
        "price_cents": 123_456,
        "currency": "usd",
        "photos": [
            {
                "url": f"http://testserver{first}",
                "alt": "Rings",
                "width": 3,
                "height": 2,
                "thumbnails": [],
            },
            {
                "url": f"http://testserver{second}",
                "alt": "Cliffs",
                "width": 3,
                "height": 2,
                "thumbnails": [],
            },
        ],
        "add_ons": [
            {"slug": "drone", "title": "Drone", "description": "", "price_cents": 30_000},
            {"slug": "flowers", "title": "Flowers", "description": "Peonies", "price_cents": 5_000},
        ],
        "payment_plan": PAY_IN_FULL_PLAN,
    }
    assert first.startswith(f"/media/tenants/{tenant.pk}/packages/")


def test_photo_urls_take_the_host_of_each_request(tenant, tenant_api, media):
    # given a photo; the first request warms the cache through one host name
    package(tenant, "classic")
    url = photo(tenant, "classic")
    first = tenant_api.get("/api/v1/packages/classic", SERVER_NAME="localhost")

    # when the same (now cached) package is read through another host
    second = tenant_api.get("/api/v1/packages/classic", SERVER_NAME="127.0.0.1")

    # then each answer carries its own host
    assert first.json()["photos"][0]["url"] == f"http://localhost{url}"
    assert second.json()["photos"][0]["url"] == f"http://127.0.0.1{url}"


def test_package_list_is_active_packages_in_display_order(tenant, tenant_api):
    # given packages out of order, one inactive
    package(tenant, "third", position=3)
    package(tenant, "first", position=1)
    package(tenant, "hidden", position=0, active=False)
    package(tenant, "second-a", position=2)
    package(tenant, "second-b", position=2)  # same position: creation order

    # when
    response = tenant_api.get("/api/v1/packages")

    # then
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (4, None, None)
    assert [p["slug"] for p in body["results"]] == ["first", "second-a", "second-b", "third"]
    assert body["results"][0] == {
        "slug": "first",
        "title": "First",
        "description": "",
        "price_cents": 100_000,
        "currency": "usd",
        "photos": [],
        "add_ons": [],
        "payment_plan": PAY_IN_FULL_PLAN,
    }


def test_empty_catalog_is_an_empty_page(tenant_api):
    response = tenant_api.get("/api/v1/packages")

    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_inactive_package_detail_is_404(tenant, tenant_api):
    package(tenant, "hidden", active=False)

    response = tenant_api.get("/api/v1/packages/hidden")

    assert response.status_code == 404
    assert response.json() == {
        "error": {"code": "not_found", "message": "No such package.", "fields": {}}
    }


@pytest.mark.parametrize("slug", ["unknown", "Not-A-Slug", "x" * 300, "a:b"])
def test_unknown_or_malformed_slug_is_404_not_found(tenant, tenant_api, slug):
    package(tenant, "classic")

    response = tenant_api.get(f"/api/v1/packages/{slug}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_another_tenants_package_is_404_and_nothing_leaks(
    tenant, other_tenant, tenant_api, other_tenant_api
):
    # given only the other tenant sells `secret-garden`
    package(other_tenant, "secret-garden", 99_999_999)
    assert other_tenant_api.get("/api/v1/packages/secret-garden").status_code == 200

    # when this tenant asks for it
    detail = tenant_api.get("/api/v1/packages/secret-garden")
    listing = tenant_api.get("/api/v1/packages")

    # then it is not found, and not listed
    assert detail.status_code == 404
    assert detail.json()["error"]["code"] == "not_found"
    assert listing.json()["count"] == 0


# --- pagination ------------------------------------------------------------------------


def test_pages_of_twenty_by_default_with_links(tenant, tenant_api):
    for n in range(45):
        package(tenant, f"p{n:02d}", position=n)

    first = tenant_api.get("/api/v1/packages").json()
    third = tenant_api.get("/api/v1/packages?page=3").json()

    assert first["count"] == 45
    assert [p["slug"] for p in first["results"]] == [f"p{n:02d}" for n in range(20)]
    assert first["previous"] is None
    assert first["next"] == "http://testserver/api/v1/packages?page=2"
    assert [p["slug"] for p in third["results"]] == [f"p{n:02d}" for n in range(40, 45)]
    assert third["next"] is None
    assert third["previous"] == "http://testserver/api/v1/packages?page=2"


def test_page_size_parameter(tenant, tenant_api):
    for n in range(5):
        package(tenant, f"p{n}", position=n)

    body = tenant_api.get("/api/v1/packages?page_size=2&page=2").json()

    assert body["count"] == 5
    assert [p["slug"] for p in body["results"]] == ["p2", "p3"]
    assert body["next"] == "http://testserver/api/v1/packages?page=3&page_size=2"
    assert body["previous"] == "http://testserver/api/v1/packages?page_size=2"


def test_page_size_of_one_hundred_is_allowed(tenant, tenant_api):
    package(tenant, "classic")

    response = tenant_api.get("/api/v1/packages?page_size=100")

    assert response.status_code == 200
    assert response.json()["count"] == 1


@pytest.mark.parametrize(
    ("query", "field", "code"),
    [
        ("page_size=0", "page_size", "min_value"),
        ("page_size=-5", "page_size", "min_value"),
        ("page_size=101", "page_size", "max_value"),
        ("page_size=ten", "page_size", "invalid"),
        ("page=0", "page", "min_value"),
        ("page=-1", "page", "min_value"),
        ("page=abc", "page", "invalid"),
    ],
)
def test_malformed_paging_is_400_validation_error(tenant_api, query, field, code):
    response = tenant_api.get(f"/api/v1/packages?{query}")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert [e["code"] for e in error["fields"][field]] == [code]
    assert list(error["fields"]) == [field]


@pytest.mark.parametrize("page", ["2", "99999999999999999999"])
def test_page_past_the_last_is_404_not_found(tenant, tenant_api, page):
    package(tenant, "classic")

    response = tenant_api.get(f"/api/v1/packages?page={page}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert response.json()["error"]["fields"] == {}


# --- cost ------------------------------------------------------------------------------


def _catalog(tenant: Tenant, size: int) -> None:
    add_on(tenant, "flowers", 5_000)
    add_on(tenant, "drone", 30_000)
    for n in range(size):
        package(tenant, f"p{n:02d}", position=n, add_on_slugs=["flowers", "drone"])
        photo(tenant, f"p{n:02d}", alt=f"Photo {n}")


@pytest.mark.parametrize("size", [1, 30])
def test_package_list_costs_a_fixed_number_of_queries(
    tenant, tenant_api, media, django_assert_num_queries, size
):
    # given a catalog of 1 or 30 packages, each with two add-ons and a photo
    _catalog(tenant, size)

    # when listed cold: key lookup, the key's first last_used_at stamp,
    # then packages, add-ons and photos (three, whatever the size)
    with django_assert_num_queries(5):
        cold = tenant_api.get("/api/v1/packages?page_size=100")
    # and warm: the key lookup only (never cached, so revocation is immediate;
    # last_used_at is stamped at most once a minute per key)
    with django_assert_num_queries(1):
        warm = tenant_api.get("/api/v1/packages?page_size=100")

    # then both answers are the whole catalog, identical
    assert cold.status_code == warm.status_code == 200
    assert cold.json() == warm.json()
    assert cold.json()["count"] == size
    assert all(len(p["add_ons"]) == 2 and len(p["photos"]) == 1 for p in cold.json()["results"])


def test_package_detail_costs_a_fixed_number_of_queries(
    tenant, tenant_api, media, django_assert_num_queries
):
    _catalog(tenant, 3)
    tenant_api.get("/api/v1/tenant")  # stamps last_used_at

    # package, its add-ons, its photos; then the key lookup alone when warm
    with django_assert_num_queries(4):
        tenant_api.get("/api/v1/packages/p01")
    with django_assert_num_queries(1):
        tenant_api.get("/api/v1/packages/p01")


def test_nothing_is_written_by_reading(tenant, tenant_api, unscoped):
    package(tenant, "classic")
    version = Tenant.objects.get(pk=tenant.pk).catalog_version

    tenant_api.get("/api/v1/packages")
    tenant_api.get("/api/v1/packages/classic")

    assert Tenant.objects.get(pk=tenant.pk).catalog_version == version


def test_a_package_shows_its_own_payment_plan_else_the_tenants(tenant, tenant_api):
    # given a tenant taking 30 % now and a package asking a fixed deposit
    tenant.plan_kind = "deposit_percent"
    tenant.plan_deposit_percent = 30
    tenant.plan_balance_days_before = 45
    tenant.save()
    package(tenant, "first", position=1)
    package(tenant, "second", position=2)
    with tenant_scope(tenant):
        Package.objects.filter(slug="second").update(
            plan_kind="deposit_fixed", plan_deposit_cents=25_000, plan_deposit_refundable=False
        )

    # when
    plans = [p["payment_plan"] for p in tenant_api.get("/api/v1/packages").json()["results"]]

    # then
    assert plans == [
        {
            "kind": "deposit",
            "deposit_percent": 30,
            "deposit_cents": None,
            "deposit_refundable": True,
            "balance_days_before": 45,
        },
        {
            "kind": "deposit",
            "deposit_percent": None,
            "deposit_cents": 25_000,
            "deposit_refundable": False,
            "balance_days_before": 30,
        },
    ]
