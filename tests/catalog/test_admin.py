"""The catalog admin through the real admin pages, as staff and superusers use it."""

from __future__ import annotations

import threading
import urllib.request

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.test import Client
from django_scopes import scopes_disabled

from bookings.models import Booking
from catalog.models import AddOn, Package, PackageAddOn, PackagePhoto
from tenants.models import Tenant, TenantMembership
from tests.admin_pages import error_codes, page_form_data, photo_management, png_upload
from tests.factories import (
    AddOnFactory,
    BookingFactory,
    MembershipFactory,
    PackageAddOnFactory,
    PackageFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PACKAGES = "/admin/catalog/package/"
ADD_ONS = "/admin/catalog/addon/"


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


def stored_files(root) -> list:
    return [path for path in root.rglob("*") if path.is_file()]


def new_package_body(**overrides) -> dict:
    body = {
        "title": "Garden Ceremony",
        "slug": "garden",
        "description": "Under the old oak.",
        "price_cents": "2,500.00",  # typed in dollars: stored as 250000 cents
        "active": "on",
        "position": "1",
        **photo_management(),
    }
    body.update(overrides)
    return body


def catalog_version(tenant) -> int:
    return Tenant.objects.values_list("catalog_version", flat=True).get(pk=tenant.pk)


# --- isolation ---------------------------------------------------------------


def test_staff_changelists_show_only_their_tenants_rows(
    staff_client, tenant, other_tenant, unscoped
):
    mine = PackageFactory(tenant=tenant, title="Mine")
    PackageFactory(tenant=other_tenant, title="Theirs")
    my_add_on = AddOnFactory(tenant=tenant)
    AddOnFactory(tenant=other_tenant)

    packages = staff_client.get(PACKAGES)
    add_ons = staff_client.get(ADD_ONS)

    assert packages.status_code == 200
    assert list(packages.context["cl"].result_list) == [mine]
    assert add_ons.status_code == 200
    assert list(add_ons.context["cl"].result_list) == [my_add_on]
    assert "tenant" not in packages.context["cl"].list_display


def test_staff_get_404_for_another_tenants_package_and_nothing_changes(
    staff_client, other_tenant, unscoped
):
    theirs = PackageFactory(tenant=other_tenant, slug="theirs", title="Theirs", price_cents=1000)
    url = f"{PACKAGES}{theirs.pk}/"

    responses = [
        staff_client.get(f"{url}change/"),
        staff_client.post(f"{url}change/", new_package_body(slug="stolen", title="Stolen")),
        staff_client.get(f"{url}delete/"),
        staff_client.post(f"{url}delete/", {"post": "yes"}),
        staff_client.get(f"{url}history/"),
    ]

    assert [r.status_code for r in responses] == [404] * 5
    theirs.refresh_from_db()
    assert (theirs.slug, theirs.title, theirs.price_cents) == ("theirs", "Theirs", 1000)
    assert Package.objects.count() == 1


def test_staff_bulk_delete_action_ignores_another_tenants_ids(
    staff_client, tenant, other_tenant, unscoped
):
    mine = PackageFactory(tenant=tenant)
    theirs = PackageFactory(tenant=other_tenant)

    response = staff_client.post(
        PACKAGES,
        {"action": "delete_selected", "_selected_action": [mine.pk, theirs.pk], "post": "yes"},
    )

    assert response.status_code == 302
    assert list(Package.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_add_on_autocomplete_returns_only_their_tenants_add_ons(
    staff_client, tenant, other_tenant, unscoped
):
    mine = AddOnFactory(tenant=tenant, title="Flowers")
    AddOnFactory(tenant=other_tenant, title="Flowers too")

    response = staff_client.get(
        "/admin/autocomplete/",
        {"app_label": "catalog", "model_name": "package", "field_name": "add_ons", "term": "Flow"},
    )

    assert response.status_code == 200
    assert response.json()["results"] == [{"id": str(mine.pk), "text": "Flowers"}]


def test_list_filters_offer_only_their_tenants_values(staff_client, tenant, other_tenant, unscoped):
    mine = AddOnFactory(tenant=tenant, title="Flowers")
    AddOnFactory(tenant=other_tenant, title="Drone video")
    my_package = PackageFactory(tenant=tenant, title="Elopement")
    PackageFactory(tenant=other_tenant, title="Castle")

    packages = staff_client.get(PACKAGES)
    add_ons = staff_client.get(ADD_ONS)

    (package_filter,) = [
        f for f in packages.context["cl"].filter_specs if f.field_path == "add_ons"
    ]
    (add_on_filter,) = [f for f in add_ons.context["cl"].filter_specs if f.field_path == "packages"]
    assert package_filter.lookup_choices == [(mine.pk, "Flowers")]
    assert add_on_filter.lookup_choices == [(my_package.pk, "Elopement")]
    assert "Drone video" not in packages.content.decode()
    assert "Castle" not in add_ons.content.decode()


def test_superuser_sees_every_tenant_with_a_tenant_filter(
    superuser_client, tenant, other_tenant, unscoped
):
    mine = PackageFactory(tenant=tenant)
    theirs = PackageFactory(tenant=other_tenant)

    response = superuser_client.get(PACKAGES)
    filtered = superuser_client.get(PACKAGES, {"tenant__id__exact": other_tenant.pk})

    assert response.status_code == 200
    assert set(response.context["cl"].result_list) == {mine, theirs}
    assert "tenant" in response.context["cl"].list_display
    (tenant_filter,) = [f for f in response.context["cl"].filter_specs if f.field_path == "tenant"]
    assert set(tenant_filter.lookup_choices) == {
        (tenant.pk, "Alpha Weddings"),
        (other_tenant.pk, "Beta Weddings"),
    }
    assert list(filtered.context["cl"].result_list) == [theirs]


# --- access ------------------------------------------------------------------


def test_staff_without_membership_is_refused(client, tenant, unscoped):
    PackageFactory(tenant=tenant)
    client.force_login(UserFactory(is_staff=True))

    responses = [client.get(PACKAGES), client.get(ADD_ONS), client.get(f"{PACKAGES}add/")]
    index = client.get("/admin/")

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert index.status_code == 200
    assert index.context["app_list"] == []


def test_deactivated_staff_is_sent_to_login(client, tenant, unscoped):
    user = MembershipFactory(tenant=tenant, role=TenantMembership.Role.OWNER).user
    user.is_active = False
    user.save()
    client.force_login(user)

    response = client.get(PACKAGES)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_membership_of_a_deactivated_tenant_gives_no_access(client, tenant, unscoped):
    user = MembershipFactory(tenant=tenant).user
    Tenant.objects.filter(pk=tenant.pk).update(active=False)
    client.force_login(user)

    assert client.get(PACKAGES).status_code == 403


# --- creating and editing through the services ------------------------------


def test_staff_create_package_sets_their_tenant_and_add_ons(staff_client, tenant, unscoped):
    flowers = AddOnFactory(tenant=tenant, slug="flowers")
    version = catalog_version(tenant)

    page = staff_client.get(f"{PACKAGES}add/")
    response = staff_client.post(f"{PACKAGES}add/", new_package_body(offered_add_ons=[flowers.pk]))

    assert "tenant" not in page.context["adminform"].form.fields
    assert response.status_code == 302
    package = Package.objects.get()
    assert (package.tenant, package.slug, package.title, package.price_cents) == (
        tenant,
        "garden",
        "Garden Ceremony",
        250_000,
    )
    assert list(package.add_ons.all()) == [flowers]
    assert catalog_version(tenant) == version + 1  # written by package_create


def test_add_on_choices_on_the_package_form_are_their_tenants_only(
    staff_client, tenant, other_tenant, unscoped
):
    mine = AddOnFactory(tenant=tenant)
    AddOnFactory(tenant=other_tenant)
    package = PackageFactory(tenant=tenant)

    add_page = staff_client.get(f"{PACKAGES}add/")
    change_page = staff_client.get(f"{PACKAGES}{package.pk}/change/")

    for page in (add_page, change_page):
        assert list(page.context["adminform"].form.fields["offered_add_ons"].queryset) == [mine]


def test_posting_another_tenants_add_on_is_a_form_error(
    staff_client, tenant, other_tenant, unscoped
):
    theirs = AddOnFactory(tenant=other_tenant)

    response = staff_client.post(f"{PACKAGES}add/", new_package_body(offered_add_ons=[theirs.pk]))

    assert response.status_code == 200
    assert error_codes(response.context["adminform"].form, "offered_add_ons") == ["invalid_choice"]
    assert Package.objects.count() == 0
    assert PackageAddOn.objects.count() == 0


def test_duplicate_slug_is_a_form_error_not_a_crash(staff_client, tenant, other_tenant, unscoped):
    PackageFactory(tenant=tenant, slug="garden")
    PackageFactory(tenant=other_tenant, slug="castle")
    version = catalog_version(tenant)

    taken = staff_client.post(f"{PACKAGES}add/", new_package_body(slug="garden"))
    other_tenants_slug = staff_client.post(f"{PACKAGES}add/", new_package_body(slug="castle"))

    assert taken.status_code == 200
    assert error_codes(taken.context["adminform"].form, "slug") == ["slug_taken"]
    assert "already used" in taken.content.decode()
    assert other_tenants_slug.status_code == 302  # slugs are unique per tenant only
    assert Package.objects.filter(tenant=tenant).count() == 2
    assert catalog_version(tenant) == version + 1  # only the successful create


def test_renaming_onto_a_taken_slug_is_a_form_error(staff_client, tenant, unscoped):
    PackageFactory(tenant=tenant, slug="garden")
    package = PackageFactory(tenant=tenant, slug="beach", title="Beach")
    page = staff_client.get(f"{PACKAGES}{package.pk}/change/")

    response = staff_client.post(
        f"{PACKAGES}{package.pk}/change/",
        {**page_form_data(page), "slug": "garden", "title": "New"},
    )

    assert response.status_code == 200
    assert error_codes(response.context["adminform"].form, "slug") == ["slug_taken"]
    package.refresh_from_db()
    assert (package.slug, package.title) == ("beach", "Beach")


def test_staff_edit_package_and_its_add_ons(staff_client, tenant, unscoped):
    flowers = AddOnFactory(tenant=tenant, slug="flowers")
    music = AddOnFactory(tenant=tenant, slug="music")
    link = PackageAddOnFactory(tenant=tenant, add_on=flowers, package__tenant=tenant)
    package = link.package
    page = staff_client.get(f"{PACKAGES}{package.pk}/change/")
    assert page.context["adminform"].form.initial["offered_add_ons"] == [flowers.pk]

    response = staff_client.post(
        f"{PACKAGES}{package.pk}/change/",
        {
            **page_form_data(page),
            "slug": "renamed",
            "price_cents": "0.50",
            "offered_add_ons": [music.pk],
        },
    )

    assert response.status_code == 302
    package.refresh_from_db()
    assert (package.slug, package.price_cents) == ("renamed", 50)
    assert list(package.add_ons.all()) == [music]


def test_invalid_values_are_form_errors(staff_client, tenant, unscoped):
    response = staff_client.post(
        f"{PACKAGES}add/", new_package_body(slug="Not A Slug", price_cents="1000000000")
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert error_codes(form, "slug") == ["invalid_slug"]
    assert error_codes(form, "price_cents") == ["max_value"]
    assert Package.objects.count() == 0


def test_staff_create_and_rename_add_on(staff_client, tenant, unscoped):
    AddOnFactory(tenant=tenant, slug="taken")
    body = {
        "title": "Flowers",
        "slug": "flowers",
        "description": "",
        "price_cents": "123.45",
        "active": "on",
        "position": "0",
    }

    created = staff_client.post(f"{ADD_ONS}add/", body)
    duplicate = staff_client.post(f"{ADD_ONS}add/", {**body, "slug": "taken"})

    assert created.status_code == 302
    add_on = AddOn.objects.get(slug="flowers")
    assert (add_on.tenant, add_on.price_cents) == (tenant, 12_345)
    assert duplicate.status_code == 200
    assert error_codes(duplicate.context["adminform"].form, "slug") == ["slug_taken"]
    assert AddOn.objects.count() == 2


# --- deleting ----------------------------------------------------------------


def test_staff_delete_package_removes_links(staff_client, tenant, unscoped):
    link = PackageAddOnFactory(tenant=tenant, package__tenant=tenant)

    confirm = staff_client.get(f"{PACKAGES}{link.package.pk}/delete/")
    response = staff_client.post(f"{PACKAGES}{link.package.pk}/delete/", {"post": "yes"})

    assert confirm.status_code == 200
    assert response.status_code == 302
    assert (Package.objects.count(), PackageAddOn.objects.count(), AddOn.objects.count()) == (
        0,
        0,
        1,
    )


def test_package_with_bookings_cannot_be_deleted(staff_client, tenant, unscoped):
    booking = BookingFactory(tenant=tenant)

    response = staff_client.post(f"{PACKAGES}{booking.package.pk}/delete/", {"post": "yes"})

    # Django's confirmation page lists the protecting booking and deletes nothing.
    assert response.status_code == 200
    assert response.context["protected"]
    assert Package.objects.count() == 1
    assert Booking.objects.count() == 1


# --- photos ------------------------------------------------------------------


def test_photo_upload_through_the_inline_shows_a_thumbnail(staff_client, tenant, media, unscoped):
    package = PackageFactory(tenant=tenant)
    page = staff_client.get(f"{PACKAGES}{package.pk}/change/")
    body = {
        **page_form_data(page),
        **photo_management(total=1),
        "photos-0-image": png_upload(size=(40, 30)),
        "photos-0-alt": "The oak",
        "photos-0-position": "0",
    }

    response = staff_client.post(f"{PACKAGES}{package.pk}/change/", body)

    assert response.status_code == 302
    photo = PackagePhoto.objects.get()
    assert (photo.package, photo.tenant, photo.alt, photo.width, photo.height) == (
        package,
        tenant,
        "The oak",
        40,
        30,
    )
    assert len(stored_files(media)) == 1
    change_page = staff_client.get(f"{PACKAGES}{package.pk}/change/")
    assert f'<img src="{photo.image.url}" alt="The oak"' in change_page.content.decode()


def add_photo_through_admin(client, package, alt: str) -> None:
    page = client.get(f"{PACKAGES}{package.pk}/change/")
    index = len(page.context["inline_admin_formsets"][0].formset.initial_forms)
    response = client.post(
        f"{PACKAGES}{package.pk}/change/",
        {
            **page_form_data(page),
            **photo_management(total=index + 1, initial=index),
            f"photos-{index}-image": png_upload(),
            f"photos-{index}-alt": alt,
            f"photos-{index}-position": str(index),
        },
    )
    assert response.status_code == 302


def test_photo_alt_change_and_delete_go_through_the_services(
    staff_client, tenant, media, unscoped, django_capture_on_commit_callbacks
):
    package = PackageFactory(tenant=tenant)
    add_photo_through_admin(staff_client, package, "first")
    add_photo_through_admin(staff_client, package, "second")
    first, _second = PackagePhoto.objects.order_by("id")
    page = staff_client.get(f"{PACKAGES}{package.pk}/change/")

    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            f"{PACKAGES}{package.pk}/change/",
            {**page_form_data(page), "photos-0-alt": "renamed", "photos-1-DELETE": "on"},
        )

    assert response.status_code == 302
    assert list(PackagePhoto.objects.values_list("pk", "alt", "image")) == [
        (first.pk, "renamed", first.image.name)
    ]
    # The deleted photo's file goes once the transaction commits.
    assert [path.relative_to(media).as_posix() for path in stored_files(media)] == [
        first.image.name
    ]


@pytest.mark.parametrize(
    ("upload", "code"),
    [
        (lambda: png_upload(padding=5 * 1024 * 1024), "file_too_large"),
        (
            lambda: SimpleUploadedFile("photo.png", b"not an image", content_type="image/png"),
            "invalid_image",
        ),
    ],
    ids=["oversized", "not-an-image"],
)
def test_bad_photo_upload_is_a_form_error_and_stores_nothing(
    staff_client, tenant, media, unscoped, upload, code
):
    body = {
        **new_package_body(),
        **photo_management(total=1),
        "photos-0-image": upload(),
        "photos-0-alt": "",
        "photos-0-position": "0",
    }

    response = staff_client.post(f"{PACKAGES}add/", body)

    assert response.status_code == 200
    (inline,) = response.context["inline_admin_formsets"]
    assert error_codes(inline.formset.forms[0], "image") == [code]
    assert (Package.objects.count(), PackagePhoto.objects.count()) == (0, 0)
    assert stored_files(media) == []


def test_sixth_photo_is_refused(staff_client, tenant, media, unscoped):
    package = PackageFactory(tenant=tenant)
    for position in range(5):
        PackagePhoto.objects.create(
            tenant=tenant,
            package=package,
            image=f"tenants/{tenant.pk}/packages/p{position}.png",
            position=position,
            width=1,
            height=1,
        )
    page = staff_client.get(f"{PACKAGES}{package.pk}/change/")

    response = staff_client.post(
        f"{PACKAGES}{package.pk}/change/",
        {
            **page_form_data(page),
            **photo_management(total=6, initial=5),
            "photos-5-image": png_upload(),
            "photos-5-alt": "",
            "photos-5-position": "9",
        },
    )

    assert response.status_code == 200
    assert PackagePhoto.objects.count() == 5
    assert stored_files(media) == []


def test_photo_limit_decided_by_the_service_rolls_back_the_whole_save(
    staff_client, tenant, media, unscoped
):
    # The form allows up to 5 rows; the service re-counts under a lock.
    # Simulate rows added by someone else after the page was loaded.
    package = PackageFactory(tenant=tenant, title="Before")
    page = staff_client.get(f"{PACKAGES}{package.pk}/change/")
    for position in range(5):
        PackagePhoto.objects.create(
            tenant=tenant,
            package=package,
            image=f"tenants/{tenant.pk}/packages/q{position}.png",
            position=position,
            width=1,
            height=1,
        )

    response = staff_client.post(
        f"{PACKAGES}{package.pk}/change/",
        {
            **page_form_data(page),
            "title": "After",
            **photo_management(total=1),
            "photos-0-image": png_upload(),
            "photos-0-alt": "",
            "photos-0-position": "0",
        },
    )

    assert response.status_code == 200
    assert "at most 5 photos" in response.content.decode()
    package.refresh_from_db()
    assert package.title == "Before"
    assert PackagePhoto.objects.count() == 5
    assert stored_files(media) == []


def test_photo_upload_through_the_admin_goes_to_the_bucket(
    staff_client, tenant, s3_media, unscoped
):
    package = PackageFactory(tenant=tenant)
    page = staff_client.get(f"{PACKAGES}{package.pk}/change/")
    upload = png_upload(size=(40, 30))
    content = upload.read()
    upload.seek(0)

    response = staff_client.post(
        f"{PACKAGES}{package.pk}/change/",
        {
            **page_form_data(page),
            **photo_management(total=1),
            "photos-0-image": upload,
            "photos-0-alt": "The oak",
            "photos-0-position": "0",
        },
    )

    assert response.status_code == 302
    photo = PackagePhoto.objects.get()
    assert s3_media.objects() == {photo.image.name: content}
    url = f"{s3_media.endpoint}/{s3_media.bucket}/{photo.image.name}"
    change_page = staff_client.get(f"{PACKAGES}{package.pk}/change/")
    assert f'<img src="{url}" alt="The oak"' in change_page.content.decode()
    with urllib.request.urlopen(url, timeout=5) as served:
        assert (served.status, served.read()) == (200, content)


def test_an_admin_save_refused_after_an_upload_leaves_no_file(
    staff_client, tenant, media_store, unscoped
):
    # Two new photos in one save; between loading the page and saving it,
    # someone else added a photo, so the service accepts the first (its file
    # is written) and refuses the second: the whole save rolls back, and
    # the first photo's file must go with it.
    package = PackageFactory(tenant=tenant, title="Before")
    for position in range(3):
        add_photo_row(tenant, package, position)
    page = staff_client.get(f"{PACKAGES}{package.pk}/change/")
    add_photo_row(tenant, package, 3)

    response = staff_client.post(
        f"{PACKAGES}{package.pk}/change/",
        {
            **page_form_data(page),
            "title": "After",
            **photo_management(total=5, initial=3),
            "photos-3-image": png_upload(),
            "photos-3-alt": "accepted, then rolled back",
            "photos-3-position": "3",
            "photos-4-image": png_upload(),
            "photos-4-alt": "refused",
            "photos-4-position": "4",
        },
    )

    assert response.status_code == 200
    assert "at most 5 photos" in response.content.decode()
    package.refresh_from_db()
    assert package.title == "Before"
    assert PackagePhoto.objects.filter(package=package).count() == 4
    assert media_store.names() == []


def add_photo_row(tenant, package, position: int) -> PackagePhoto:
    """A photo row whose file is not part of the test (nothing is stored)."""
    return PackagePhoto.objects.create(
        tenant=tenant,
        package=package,
        image=f"tenants/{tenant.pk}/packages/row{position}.png",
        position=position,
        width=1,
        height=1,
    )


# --- every page renders, for every role --------------------------------------


@pytest.mark.parametrize("role", ["staff", "owner", "superuser"])
def test_catalog_admin_pages_render(client, tenant, role, media, unscoped):
    if role == "superuser":
        user = UserFactory(is_superuser=True)
    else:
        user = MembershipFactory(tenant=tenant, role=role).user
    client.force_login(user)
    package = PackageFactory(tenant=tenant)
    add_on = AddOnFactory(tenant=tenant)
    PackageAddOnFactory(tenant=tenant, package=package, add_on=add_on)
    PackagePhoto.objects.create(
        tenant=tenant,
        package=package,
        image=f"tenants/{tenant.pk}/packages/x.png",
        width=1,
        height=1,
    )

    urls = ["/admin/", "/admin/catalog/"]
    for base, obj in ((PACKAGES, package), (ADD_ONS, add_on)):
        urls += [
            base,
            f"{base}add/",
            f"{base}{obj.pk}/change/",
            f"{base}{obj.pk}/delete/",
            f"{base}{obj.pk}/history/",
        ]

    assert {url: client.get(url).status_code for url in urls} == {url: 200 for url in urls}


@pytest.mark.parametrize("role", ["staff", "superuser"])
def test_every_registered_changelist_and_add_page_answers(client, tenant, role, unscoped):
    superuser = role == "superuser"
    user = UserFactory(is_superuser=True) if superuser else MembershipFactory(tenant=tenant).user
    client.force_login(user)

    changelists, add_pages = {}, {}
    for model in admin.site._registry:
        base = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        changelists[base] = client.get(base).status_code
        add_pages[base] = client.get(f"{base}add/").status_code

    # Pages answer (200) or refuse (403); none crashes.
    assert set(changelists.values()) == ({200} if superuser else {200, 403})
    assert set(add_pages.values()) <= {200, 403}


def test_superuser_creates_a_package_for_a_chosen_tenant(
    superuser_client, tenant, other_tenant, unscoped
):
    mine = AddOnFactory(tenant=tenant)
    theirs = AddOnFactory(tenant=other_tenant)

    page = superuser_client.get(f"{PACKAGES}add/")
    mixed = superuser_client.post(
        f"{PACKAGES}add/",
        new_package_body(tenant=other_tenant.pk, offered_add_ons=[mine.pk, theirs.pk]),
    )
    created = superuser_client.post(
        f"{PACKAGES}add/", new_package_body(tenant=other_tenant.pk, offered_add_ons=[theirs.pk])
    )

    assert "tenant" in page.context["adminform"].form.fields
    assert error_codes(mixed.context["adminform"].form, "offered_add_ons") == ["invalid_choice"]
    assert created.status_code == 302
    package = Package.objects.get()
    assert (package.tenant, list(package.add_ons.all())) == (other_tenant, [theirs])
    change_page = superuser_client.get(f"{PACKAGES}{package.pk}/change/")
    assert "tenant" in change_page.context["adminform"].readonly_fields
    assert list(change_page.context["adminform"].form.fields["offered_add_ons"].queryset) == [
        theirs
    ]


@pytest.mark.django_db(transaction=True)
def test_concurrent_admin_creates_with_one_slug_let_exactly_one_win(tenant, staff_user):
    # The database constraint decides; the loser sees a form error, no 500.
    clients = []
    for _ in range(4):
        client = Client()
        client.force_login(staff_user)
        clients.append(client)
    barrier = threading.Barrier(len(clients))
    outcomes: list[tuple[int, list[str]]] = []

    def create(client: Client, title: str) -> None:
        try:
            barrier.wait()
            response = client.post(f"{PACKAGES}add/", new_package_body(slug="same", title=title))
            codes = (
                error_codes(response.context["adminform"].form, "slug")
                if response.status_code == 200
                else []
            )
            outcomes.append((response.status_code, codes))
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=create, args=(client, f"Title {n}"))
        for n, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == [(200, ["slug_taken"])] * 3 + [(302, [])]
    with scopes_disabled():
        assert Package.objects.filter(tenant=tenant, slug="same").count() == 1


# --- money in the currency's units (issue 15) ---------------------------------


def test_price_is_typed_in_currency_units_and_stored_in_minor_units(staff_client, tenant, unscoped):
    # An owner types 1800 (or 1,800.00): the package sells for 1,800.00, not 18.00.
    plain = staff_client.post(f"{PACKAGES}add/", new_package_body(slug="plain", price_cents="1800"))
    grouped = staff_client.post(
        f"{PACKAGES}add/", new_package_body(slug="grouped", price_cents="$1,800.50")
    )

    assert (plain.status_code, grouped.status_code) == (302, 302)
    assert dict(Package.objects.values_list("slug", "price_cents")) == {
        "plain": 180_000,
        "grouped": 180_050,
    }


def test_package_page_and_list_show_the_price_in_units_never_cents(staff_client, tenant, unscoped):
    package = PackageFactory(tenant=tenant, title="Summit", price_cents=180_000)

    page = staff_client.get(f"{PACKAGES}{package.pk}/change/")
    listing = staff_client.get(PACKAGES)

    assert b'value="1,800.00"' in page.content
    assert b"Price (USD)" in page.content
    assert b"1,800.00 USD" in listing.content
    assert b"180000" not in listing.content and b"cents" not in listing.content.lower()


def test_zero_decimal_currency_takes_whole_units_and_refuses_decimals(
    staff_client, tenant, unscoped
):
    Tenant.objects.filter(pk=tenant.pk).update(currency="jpy")

    whole = staff_client.post(
        f"{PACKAGES}add/", new_package_body(slug="yen", price_cents="180,000")
    )
    fraction = staff_client.post(
        f"{PACKAGES}add/", new_package_body(slug="fraction", price_cents="1800.50")
    )

    assert whole.status_code == 302
    assert Package.objects.get(slug="yen").price_cents == 180_000
    assert fraction.status_code == 200
    assert error_codes(fraction.context["adminform"].form, "price_cents") == ["too_many_decimals"]
    assert not Package.objects.filter(slug="fraction").exists()


def test_too_many_decimals_and_words_are_refused_in_dollars(staff_client, tenant, unscoped):
    three = staff_client.post(f"{PACKAGES}add/", new_package_body(price_cents="18.005"))
    words = staff_client.post(f"{PACKAGES}add/", new_package_body(price_cents="eighteen"))

    assert error_codes(three.context["adminform"].form, "price_cents") == ["too_many_decimals"]
    assert error_codes(words.context["adminform"].form, "price_cents") == ["invalid"]
    assert Package.objects.count() == 0


def test_package_payment_plan_reads_in_the_owners_words(staff_client, tenant, unscoped):
    page = staff_client.get(f"{PACKAGES}add/")
    form = page.context["adminform"].form

    assert page.status_code == 200
    assert [
        (name, form.fields[name].label)
        for name in (
            "plan_kind",
            "plan_deposit_percent",
            "plan_deposit_refundable",
            "plan_balance_days_before",
        )
    ] == [
        ("plan_kind", "How couples pay"),
        ("plan_deposit_percent", "Deposit (% of the total)"),
        ("plan_deposit_refundable", "Deposit is refundable"),
        ("plan_balance_days_before", "Charge the balance (days before the wedding)"),
    ]
    assert list(form.fields["plan_kind"].choices) == [
        ("", "Same as your business"),
        ("full", "Pay in full at booking"),
        ("deposit_percent", "Deposit: a percentage, balance later"),
        ("deposit_fixed", "Deposit: a fixed amount, balance later"),
    ]
    assert "Select value" not in page.content.decode()
