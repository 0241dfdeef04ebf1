"""Catalog services and selectors against the real database: round-trips,
per-tenant slug uniqueness, not-found across tenants, deletes, same-tenant
links, display order, query counts and the catalog version bump."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from bookings.models import Booking
from catalog import selectors, services
from catalog.errors import AddOnNotFound, PackageHasBookings, PackageNotFound, SlugTaken
from catalog.models import AddOn, Package, PackageAddOn, PackagePhoto
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from tests.factories import AddOnFactory, BookingFactory, PackageAddOnFactory, PackageFactory

pytestmark = pytest.mark.usefixtures("unscoped")

CATALOG_MODELS = (Package, AddOn, PackageAddOn, PackagePhoto)


def catalog_snapshot() -> dict[str, list[dict]]:
    """Every catalog row of every tenant, for "nothing else changed"."""
    return {model.__name__: list(model.objects.order_by("pk").values()) for model in CATALOG_MODELS}


def versions() -> dict[int, int]:
    return dict(Tenant.objects.values_list("pk", "catalog_version"))


def error_codes(exc: ValidationError) -> dict[str, list[str]]:
    return {field: [e.code for e in errors] for field, errors in exc.error_dict.items()}


def as_changes(values: dict) -> dict:
    """Create-style values as update changes (a rename is `new_slug`)."""
    return {("new_slug" if name == "slug" else name): value for name, value in values.items()}


def create_package(tenant: Tenant, **overrides) -> Package:
    values = {"slug": "elopement", "title": "Elopement", "price_cents": 150_000} | overrides
    with tenant_scope(tenant):
        return services.package_create(tenant=tenant, **values)


def create_add_on(tenant: Tenant, **overrides) -> AddOn:
    values = {"slug": "flowers", "title": "Flowers", "price_cents": 20_000} | overrides
    with tenant_scope(tenant):
        return services.add_on_create(tenant=tenant, **values)


# --- packages: create / read / update / delete --------------------------------

ROUND_TRIP_CASES = {
    "unicode description": {"description": "Fleurs, gâteau et champagne — éçà ✓"},
    "empty description": {"description": ""},
    "200-char title": {"title": "T" * 200},
    "unicode title": {"title": "Mariage à Genève"},
    "smallest chargeable price": {"price_cents": 50},
    "max price": {"price_cents": 99_999_999},
    "inactive, positioned": {"active": False, "position": -3},
}


@pytest.mark.parametrize("overrides", ROUND_TRIP_CASES.values(), ids=ROUND_TRIP_CASES.keys())
def test_package_create_round_trips_every_value(tenant, overrides):
    expected = {
        "slug": "elopement",
        "title": "Elopement",
        "description": "A short ceremony.",
        "price_cents": 150_000,
        "active": True,
        "position": 0,
    } | overrides

    created = create_package(tenant, **expected)

    with tenant_scope(tenant):
        read = selectors.package_get(tenant=tenant, slug="elopement")
    assert read.pk == created.pk
    assert read.tenant_id == tenant.pk
    assert {name: getattr(read, name) for name in expected} == expected
    assert Package.objects.count() == 1


@pytest.mark.parametrize("overrides", ROUND_TRIP_CASES.values(), ids=ROUND_TRIP_CASES.keys())
def test_add_on_create_round_trips_every_value(tenant, overrides):
    expected = {
        "slug": "flowers",
        "title": "Flowers",
        "description": "Peonies.",
        "price_cents": 20_000,
        "active": True,
        "position": 0,
    } | overrides

    created = create_add_on(tenant, **expected)

    with tenant_scope(tenant):
        read = selectors.add_on_get(tenant=tenant, slug="flowers")
    assert read.pk == created.pk
    assert read.tenant_id == tenant.pk
    assert {name: getattr(read, name) for name in expected} == expected
    assert AddOn.objects.count() == 1


INVALID_FIELD_CASES = {
    "negative price": ({"price_cents": -1}, {"price_cents": ["min_value"]}),
    "price above max": ({"price_cents": 1_000_000_000}, {"price_cents": ["max_value"]}),
    "201-char title": ({"title": "T" * 201}, {"title": ["max_length"]}),
    "empty title": ({"title": ""}, {"title": ["blank"]}),
    "upper-case slug": ({"slug": "Elopement"}, {"slug": ["invalid_slug"]}),
    "slug with space": ({"slug": "small wedding"}, {"slug": ["invalid_slug"]}),
    "double hyphen": ({"slug": "small--wedding"}, {"slug": ["invalid_slug"]}),
    "empty slug": ({"slug": ""}, {"slug": ["blank"]}),
    "51-char slug": ({"slug": "a" * 51}, {"slug": ["max_length"]}),
}


@pytest.mark.parametrize(
    ("overrides", "codes"), INVALID_FIELD_CASES.values(), ids=INVALID_FIELD_CASES.keys()
)
def test_package_create_with_invalid_field_writes_nothing(tenant, overrides, codes):
    before = versions()

    with pytest.raises(ValidationError) as caught:
        create_package(tenant, **overrides)

    assert error_codes(caught.value) == codes
    assert Package.objects.count() == 0
    assert versions() == before


@pytest.mark.parametrize(
    ("overrides", "codes"), INVALID_FIELD_CASES.values(), ids=INVALID_FIELD_CASES.keys()
)
def test_add_on_create_with_invalid_field_writes_nothing(tenant, overrides, codes):
    before = versions()

    with pytest.raises(ValidationError) as caught:
        create_add_on(tenant, **overrides)

    assert error_codes(caught.value) == codes
    assert AddOn.objects.count() == 0
    assert versions() == before


def test_package_update_changes_exactly_the_given_fields(tenant):
    create_package(tenant, description="Old", position=1)
    create_add_on(tenant, slug="flowers")
    create_add_on(tenant, slug="drone")

    with tenant_scope(tenant):
        services.package_update(
            tenant=tenant,
            slug="elopement",
            title="Élopement de luxe",
            description="",
            price_cents=99_999_999,
            active=False,
            add_on_slugs=["drone", "flowers"],
        )
        package = selectors.package_get(tenant=tenant, slug="elopement")

    assert (package.title, package.description, package.price_cents, package.active) == (
        "Élopement de luxe",
        "",
        99_999_999,
        False,
    )
    assert package.position == 1  # not given, not changed
    assert sorted(package.add_ons.values_list("slug", flat=True)) == ["drone", "flowers"]


def test_package_update_renames_the_slug(tenant):
    created = create_package(tenant)

    with tenant_scope(tenant):
        services.package_update(tenant=tenant, slug="elopement", new_slug="small-wedding")

        assert selectors.package_get(tenant=tenant, slug="small-wedding").pk == created.pk
        with pytest.raises(PackageNotFound):
            selectors.package_get(tenant=tenant, slug="elopement")


def test_package_update_with_add_on_slugs_replaces_the_offered_set(tenant):
    for slug in ("flowers", "drone", "cake"):
        create_add_on(tenant, slug=slug)
    create_package(tenant, add_on_slugs=["flowers", "drone"])

    with tenant_scope(tenant):
        services.package_update(tenant=tenant, slug="elopement", add_on_slugs=["cake", "drone"])
        package = selectors.package_get(tenant=tenant, slug="elopement")

    assert sorted(package.add_ons.values_list("slug", flat=True)) == ["cake", "drone"]
    assert PackageAddOn.objects.count() == 2
    assert AddOn.objects.count() == 3


@pytest.mark.parametrize(
    ("overrides", "codes"), INVALID_FIELD_CASES.values(), ids=INVALID_FIELD_CASES.keys()
)
def test_package_update_with_invalid_field_changes_nothing(tenant, overrides, codes):
    create_package(tenant)
    before, before_versions = catalog_snapshot(), versions()

    with tenant_scope(tenant), pytest.raises(ValidationError) as caught:
        services.package_update(tenant=tenant, slug="elopement", **as_changes(overrides))

    assert error_codes(caught.value) == codes
    assert catalog_snapshot() == before
    assert versions() == before_versions


def test_package_update_with_an_unknown_field_is_a_programming_error(tenant):
    create_package(tenant)
    before = catalog_snapshot()

    with tenant_scope(tenant), pytest.raises(TypeError):
        services.package_update(tenant=tenant, slug="elopement", tenant_id=999)

    assert catalog_snapshot() == before


def test_package_delete_removes_it_and_its_add_on_links_but_not_the_add_ons(tenant):
    create_add_on(tenant, slug="flowers")
    create_add_on(tenant, slug="drone")
    create_package(tenant, slug="elopement", add_on_slugs=["flowers", "drone"])
    kept = create_package(tenant, slug="classic", add_on_slugs=["flowers"])

    with tenant_scope(tenant):
        services.package_delete(tenant=tenant, slug="elopement")

    assert list(Package.objects.values_list("slug", flat=True)) == ["classic"]
    assert list(PackageAddOn.objects.values_list("package_id", "add_on__slug")) == [
        (kept.pk, "flowers")
    ]
    assert sorted(AddOn.objects.values_list("slug", flat=True)) == ["drone", "flowers"]


@pytest.mark.parametrize("status", [s.value for s in Booking.Status])
def test_package_delete_with_bookings_is_refused_and_bookings_keep_it(tenant, status):
    create_add_on(tenant)
    package = create_package(tenant, add_on_slugs=["flowers"])
    booking = BookingFactory(tenant=tenant, package=package, status=status)
    before, before_versions = catalog_snapshot(), versions()

    with tenant_scope(tenant), pytest.raises(PackageHasBookings) as caught:
        services.package_delete(tenant=tenant, slug="elopement")

    assert (caught.value.code, caught.value.status) == ("package_has_bookings", 409)
    assert catalog_snapshot() == before
    assert versions() == before_versions
    booking.refresh_from_db()
    assert booking.package_id == package.pk


def test_add_on_update_and_delete(tenant):
    create_add_on(tenant, slug="flowers", title="Flowers")
    create_package(tenant, add_on_slugs=["flowers"])

    with tenant_scope(tenant):
        services.add_on_update(
            tenant=tenant, slug="flowers", new_slug="peonies", title="Pivoines éçà", price_cents=0
        )
        add_on = selectors.add_on_get(tenant=tenant, slug="peonies")
        assert (add_on.title, add_on.price_cents) == ("Pivoines éçà", 0)

        services.add_on_delete(tenant=tenant, slug="peonies")

        with pytest.raises(AddOnNotFound):
            selectors.add_on_get(tenant=tenant, slug="peonies")
    assert AddOn.objects.count() == 0
    assert PackageAddOn.objects.count() == 0
    assert list(Package.objects.values_list("slug", flat=True)) == ["elopement"]


# --- (tenant, slug) uniqueness ------------------------------------------------


def test_second_package_with_the_same_slug_in_a_tenant_is_slug_taken(tenant):
    create_package(tenant, title="First")
    before, before_versions = catalog_snapshot(), versions()

    with pytest.raises(SlugTaken) as caught:
        create_package(tenant, title="Second")

    assert (caught.value.code, caught.value.status) == ("slug_taken", 409)
    assert [e["code"] for e in caught.value.fields["slug"]] == ["slug_taken"]
    assert catalog_snapshot() == before
    assert versions() == before_versions


def test_the_same_package_slug_in_another_tenant_is_fine(tenant, other_tenant):
    mine = create_package(tenant, price_cents=100)

    theirs = create_package(other_tenant, price_cents=200)

    assert Package.objects.count() == 2
    assert (mine.slug, mine.tenant_id) == ("elopement", tenant.pk)
    assert (theirs.slug, theirs.tenant_id) == ("elopement", other_tenant.pk)
    with tenant_scope(other_tenant):
        assert selectors.package_get(tenant=other_tenant, slug="elopement").price_cents == 200
    with tenant_scope(tenant):
        assert selectors.package_get(tenant=tenant, slug="elopement").price_cents == 100


def test_renaming_a_package_onto_an_existing_slug_is_slug_taken(tenant):
    create_package(tenant, slug="elopement")
    create_package(tenant, slug="classic")
    before, before_versions = catalog_snapshot(), versions()

    with tenant_scope(tenant), pytest.raises(SlugTaken) as caught:
        services.package_update(tenant=tenant, slug="classic", new_slug="elopement", title="New")

    assert caught.value.code == "slug_taken"
    assert catalog_snapshot() == before
    assert versions() == before_versions


def test_add_ons_with_identical_titles_need_distinct_slugs(tenant, other_tenant):
    create_add_on(tenant, slug="flowers", title="Flowers")
    create_add_on(tenant, slug="flowers-2", title="Flowers")
    create_add_on(other_tenant, slug="flowers", title="Flowers")
    before = catalog_snapshot()

    with pytest.raises(SlugTaken) as caught:
        create_add_on(tenant, slug="flowers", title="Flowers")

    assert caught.value.code == "slug_taken"
    assert catalog_snapshot() == before
    assert AddOn.objects.filter(tenant=tenant).count() == 2


def test_renaming_an_add_on_onto_an_existing_slug_is_slug_taken(tenant):
    create_add_on(tenant, slug="flowers")
    create_add_on(tenant, slug="drone")
    before, before_versions = catalog_snapshot(), versions()

    with tenant_scope(tenant), pytest.raises(SlugTaken) as caught:
        services.add_on_update(tenant=tenant, slug="drone", new_slug="flowers")

    assert caught.value.code == "slug_taken"
    assert catalog_snapshot() == before
    assert versions() == before_versions


# --- unknown and other tenants' rows are not found ------------------------------

PACKAGE_WRITES: dict[str, Callable[..., object]] = {
    "update": lambda tenant, slug: services.package_update(tenant=tenant, slug=slug, title="X"),
    "delete": lambda tenant, slug: services.package_delete(tenant=tenant, slug=slug),
}
ADD_ON_WRITES: dict[str, Callable[..., object]] = {
    "update": lambda tenant, slug: services.add_on_update(tenant=tenant, slug=slug, title="X"),
    "delete": lambda tenant, slug: services.add_on_delete(tenant=tenant, slug=slug),
}


@pytest.mark.parametrize("write", PACKAGE_WRITES.values(), ids=PACKAGE_WRITES.keys())
@pytest.mark.parametrize("slug", ["no-such-package", "theirs"])
def test_package_write_on_unknown_or_other_tenants_package_is_not_found(
    tenant, other_tenant, write, slug
):
    create_package(tenant, slug="mine")
    create_package(other_tenant, slug="theirs", title="Theirs")
    before, before_versions = catalog_snapshot(), versions()

    with tenant_scope(tenant), pytest.raises(PackageNotFound) as caught:
        write(tenant, slug)

    assert (caught.value.code, caught.value.status) == ("not_found", 404)
    assert catalog_snapshot() == before
    assert versions() == before_versions


def test_package_write_outside_the_tenants_scope_sees_nothing(tenant, other_tenant):
    # The caller's scope is the other tenant: a mismatch finds nothing, fail closed.
    create_package(tenant, slug="mine")
    before = catalog_snapshot()

    with tenant_scope(other_tenant), pytest.raises(PackageNotFound):
        services.package_update(tenant=tenant, slug="mine", title="X")

    assert catalog_snapshot() == before


@pytest.mark.parametrize("write", ADD_ON_WRITES.values(), ids=ADD_ON_WRITES.keys())
@pytest.mark.parametrize("slug", ["no-such-add-on", "theirs"])
def test_add_on_write_on_unknown_or_other_tenants_add_on_is_not_found(
    tenant, other_tenant, write, slug
):
    create_add_on(tenant, slug="mine")
    create_add_on(other_tenant, slug="theirs")
    before, before_versions = catalog_snapshot(), versions()

    with tenant_scope(tenant), pytest.raises(AddOnNotFound) as caught:
        write(tenant, slug)

    assert (caught.value.code, caught.value.status) == ("not_found", 404)
    assert catalog_snapshot() == before
    assert versions() == before_versions


def test_reading_another_tenants_package_or_add_on_is_not_found(tenant, other_tenant):
    create_package(other_tenant)
    create_add_on(other_tenant)

    with tenant_scope(tenant):
        with pytest.raises(PackageNotFound):
            selectors.package_get(tenant=tenant, slug="elopement")
        with pytest.raises(AddOnNotFound):
            selectors.add_on_get(tenant=tenant, slug="flowers")
        assert selectors.package_list(tenant=tenant, active_only=False) == []
        assert selectors.add_on_list(tenant=tenant) == []


# --- same-tenant links ----------------------------------------------------------


def test_creating_a_package_with_another_tenants_add_on_writes_nothing(tenant, other_tenant):
    create_add_on(tenant, slug="flowers")
    create_add_on(other_tenant, slug="drone")
    before, before_versions = catalog_snapshot(), versions()

    with pytest.raises(ValidationError) as caught:
        create_package(tenant, add_on_slugs=["flowers", "drone"])

    assert error_codes(caught.value) == {"add_ons": ["invalid_add_on"]}
    assert catalog_snapshot() == before
    assert versions() == before_versions


def test_linking_another_tenants_add_on_on_update_changes_nothing(tenant, other_tenant):
    create_add_on(tenant, slug="flowers")
    create_add_on(other_tenant, slug="drone")
    create_package(tenant, add_on_slugs=["flowers"])
    before, before_versions = catalog_snapshot(), versions()

    with tenant_scope(tenant), pytest.raises(ValidationError) as caught:
        services.package_update(
            tenant=tenant, slug="elopement", title="Changed", add_on_slugs=["drone"]
        )

    assert error_codes(caught.value) == {"add_ons": ["invalid_add_on"]}
    assert catalog_snapshot() == before
    assert versions() == before_versions


def test_database_refuses_a_link_to_another_tenants_add_on(tenant, other_tenant):
    package = PackageFactory(tenant=tenant)
    their_add_on = AddOnFactory(tenant=other_tenant)

    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        PackageAddOn.objects.create(tenant=tenant, package=package, add_on=their_add_on)

    assert "catalog_packageaddon_add_on_same_tenant_fk" in str(caught.value)
    assert PackageAddOn.objects.count() == 0


def test_database_refuses_a_link_from_another_tenants_package(tenant, other_tenant):
    their_package = PackageFactory(tenant=other_tenant)
    add_on = AddOnFactory(tenant=tenant)

    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        PackageAddOn.objects.create(tenant=tenant, package=their_package, add_on=add_on)

    assert "catalog_packageaddon_package_same_tenant_fk" in str(caught.value)
    assert PackageAddOn.objects.count() == 0


def test_database_refuses_a_photo_of_another_tenants_package(tenant, other_tenant):
    their_package = PackageFactory(tenant=other_tenant)

    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        PackagePhoto.objects.create(
            tenant=tenant, package=their_package, image="x.png", width=1, height=1
        )

    assert "catalog_packagephoto_package_same_tenant_fk" in str(caught.value)
    assert PackagePhoto.objects.count() == 0


# --- display order ----------------------------------------------------------------


def test_packages_list_in_position_then_creation_order(tenant):
    for slug, position in [("d", 2), ("a", 0), ("c", 1), ("b", 0), ("e", -1)]:
        create_package(tenant, slug=slug, position=position)
    create_package(tenant, slug="hidden", position=-5, active=False)

    with tenant_scope(tenant):
        public = selectors.package_list(tenant=tenant)
        everything = selectors.package_list(tenant=tenant, active_only=False)

    assert [p.slug for p in public] == ["e", "a", "b", "c", "d"]
    assert [p.slug for p in everything] == ["hidden", "e", "a", "b", "c", "d"]


def test_add_ons_list_in_position_then_creation_order(tenant):
    for slug, position in [("d", 2), ("a", 0), ("c", 1), ("b", 0), ("e", -1)]:
        create_add_on(tenant, slug=slug, position=position)
    create_add_on(tenant, slug="hidden", position=-5, active=False)

    with tenant_scope(tenant):
        everything = selectors.add_on_list(tenant=tenant)
        public = selectors.add_on_list(tenant=tenant, active_only=True)

    assert [a.slug for a in everything] == ["hidden", "e", "a", "b", "c", "d"]
    assert [a.slug for a in public] == ["e", "a", "b", "c", "d"]


def test_a_packages_add_ons_come_active_only_in_display_order(tenant):
    for slug, position in [("d", 2), ("a", 0), ("c", 1), ("b", 0)]:
        create_add_on(tenant, slug=slug, position=position)
    create_add_on(tenant, slug="hidden", active=False)
    create_package(tenant, add_on_slugs=["d", "hidden", "c", "b", "a"])

    with tenant_scope(tenant):
        [listed] = selectors.package_list(tenant=tenant)
        detail = selectors.package_get(tenant=tenant, slug="elopement", prefetch=True)

    assert [a.slug for a in listed.active_add_ons] == ["a", "b", "c", "d"]
    assert [a.slug for a in detail.active_add_ons] == ["a", "b", "c", "d"]


# --- query count --------------------------------------------------------------------


@pytest.mark.parametrize("package_count", [1, 25])
def test_package_list_costs_three_queries_whatever_the_size(
    tenant, other_tenant, django_assert_num_queries, package_count
):
    add_ons = AddOnFactory.create_batch(package_count, tenant=tenant)
    for index in range(package_count):
        package = PackageFactory(tenant=tenant)
        for add_on in add_ons[: index % 4 + 1]:
            PackageAddOnFactory(package=package, add_on=add_on)
        for position in range(index % 3 + 1):
            PackagePhoto.objects.create(
                tenant=tenant,
                package=package,
                image=f"p{index}-{position}.png",
                width=10,
                height=10,
                position=position,
            )
    PackageAddOnFactory(package=PackageFactory(tenant=other_tenant))  # noise

    with tenant_scope(tenant), django_assert_num_queries(3):
        packages = selectors.package_list(tenant=tenant)
        # Touch everything a caller serializes: no query may hide here.
        shape = [
            (p.slug, [a.slug for a in p.active_add_ons], [ph.image.name for ph in p.photos.all()])
            for p in packages
        ]

    assert len(shape) == package_count
    assert [len(add_on_slugs) for _, add_on_slugs, _ in shape] == [
        min(i % 4 + 1, package_count) for i in range(package_count)
    ]
    assert [len(photos) for _, _, photos in shape] == [i % 3 + 1 for i in range(package_count)]


# --- catalog version -----------------------------------------------------------------

WRITES: dict[str, Callable[[Tenant], object]] = {
    "package_create": lambda t: services.package_create(
        tenant=t, slug="new", title="New", price_cents=1_000
    ),
    "package_update": lambda t: services.package_update(tenant=t, slug="elopement", title="X"),
    "package_update links": lambda t: services.package_update(
        tenant=t, slug="elopement", add_on_slugs=[]
    ),
    "package_delete": lambda t: services.package_delete(tenant=t, slug="elopement"),
    "add_on_create": lambda t: services.add_on_create(
        tenant=t, slug="new", title="New", price_cents=1_000
    ),
    "add_on_update": lambda t: services.add_on_update(tenant=t, slug="flowers", price_cents=5),
    "add_on_delete": lambda t: services.add_on_delete(tenant=t, slug="flowers"),
    "photo_update": lambda t: services.package_photo_update(
        tenant=t, photo_id=PackagePhoto.objects.get(tenant=t).pk, alt="A kiss"
    ),
    "photo_delete": lambda t: services.package_photo_delete(
        tenant=t, photo_id=PackagePhoto.objects.get(tenant=t).pk
    ),
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_every_write_bumps_its_tenants_catalog_version_once(
    tenant, other_tenant, write, django_capture_on_commit_callbacks
):
    for owner in (tenant, other_tenant):
        create_add_on(owner)
        package = create_package(owner, add_on_slugs=["flowers"])
        # A row without a real file: storage.delete of a missing name is a no-op.
        PackagePhoto.objects.create(
            tenant=owner, package=package, image="missing.png", width=1, height=1
        )
    before = versions()

    with tenant_scope(tenant), django_capture_on_commit_callbacks(execute=True):
        write(tenant)

    assert versions() == before | {tenant.pk: before[tenant.pk] + 1}


@pytest.mark.parametrize(
    ("overrides", "codes"), INVALID_FIELD_CASES.values(), ids=INVALID_FIELD_CASES.keys()
)
def test_add_on_update_with_invalid_field_changes_nothing(tenant, overrides, codes):
    create_add_on(tenant)
    before, before_versions = catalog_snapshot(), versions()

    with tenant_scope(tenant), pytest.raises(ValidationError) as caught:
        services.add_on_update(tenant=tenant, slug="flowers", **as_changes(overrides))

    assert error_codes(caught.value) == codes
    assert catalog_snapshot() == before
    assert versions() == before_versions


@pytest.mark.parametrize("add_on_slugs", ["flowers", [1], ["no-such-add-on"]])
def test_package_update_with_malformed_add_on_slugs_changes_nothing(tenant, add_on_slugs):
    create_add_on(tenant)
    create_package(tenant, add_on_slugs=["flowers"])
    before, before_versions = catalog_snapshot(), versions()

    with tenant_scope(tenant), pytest.raises(ValidationError) as caught:
        services.package_update(tenant=tenant, slug="elopement", add_on_slugs=add_on_slugs)

    assert list(error_codes(caught.value)) == ["add_ons"]
    assert catalog_snapshot() == before
    assert versions() == before_versions


FAILED_WRITES: dict[str, Callable[[Tenant], object]] = {
    "package_create slug_taken": lambda t: services.package_create(
        tenant=t, slug="elopement", title="Dup", price_cents=1_000
    ),
    "package_update not found": lambda t: services.package_update(tenant=t, slug="nope", title="X"),
    "add_on_create invalid": lambda t: services.add_on_create(
        tenant=t, slug="new", title="New", price_cents=-1
    ),
    "add_on_delete not found": lambda t: services.add_on_delete(tenant=t, slug="nope"),
}


@pytest.mark.parametrize("write", FAILED_WRITES.values(), ids=FAILED_WRITES.keys())
def test_a_refused_write_bumps_no_catalog_version(tenant, other_tenant, write):
    create_add_on(tenant)
    create_package(tenant, add_on_slugs=["flowers"])
    before = versions()

    with (
        tenant_scope(tenant),
        pytest.raises((ValidationError, SlugTaken, PackageNotFound, AddOnNotFound)),
    ):
        write(tenant)

    assert versions() == before
