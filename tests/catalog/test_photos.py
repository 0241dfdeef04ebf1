"""Package photos through the services: real images made in memory with
Pillow, stored through the storage API under a per-test MEDIA_ROOT; refused
uploads store nothing (no row, no file), deletes remove files on commit."""

from __future__ import annotations

import io
import threading
from collections import Counter
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from PIL import Image

from catalog import services
from catalog.errors import PackageNotFound, PhotoLimitReached, PhotoNotFound
from catalog.images import MAX_IMAGE_BYTES
from catalog.models import Package, PackagePhoto
from tenants.models import Tenant
from tenants.scoping import scopes_disabled, tenant_scope
from tests.factories import PackageFactory, TenantFactory


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def stored_files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def image_bytes(fmt: str, size: tuple[int, int] = (64, 48), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    # Noise, so the encoders produce real entropy-coded data to cut into.
    Image.effect_noise(size, 60).convert(mode).save(buffer, fmt)
    return buffer.getvalue()


def upload(content: bytes, name: str = "photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type="image/png")


def add_photo(tenant: Tenant, package_slug: str = "elopement", **kwargs) -> PackagePhoto:
    kwargs.setdefault("image", upload(image_bytes("PNG")))
    with tenant_scope(tenant):
        return services.package_photo_add(tenant=tenant, package_slug=package_slug, **kwargs)


def catalog_version(tenant: Tenant) -> int:
    return Tenant.objects.get(pk=tenant.pk).catalog_version


@pytest.fixture
def package(tenant) -> Package:
    with scopes_disabled():
        return PackageFactory(tenant=tenant, slug="elopement")


@pytest.fixture
def photo_rows():
    def rows() -> list[tuple]:
        with scopes_disabled():
            return list(PackagePhoto.objects.order_by("pk").values_list())

    return rows


# --- adding ------------------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "extension"), [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
def test_a_real_image_is_stored_with_its_dimensions(tenant, package, media_root, fmt, extension):
    content = image_bytes(fmt, size=(640, 427))
    version = catalog_version(tenant)

    photo = add_photo(tenant, image=upload(content, name="../../Our day.PNG"), alt="Première danse")

    with scopes_disabled():
        stored = PackagePhoto.objects.get()
    assert stored.pk == photo.pk
    assert (stored.tenant_id, stored.package_id) == (tenant.pk, package.pk)
    assert (stored.width, stored.height, stored.alt) == (640, 427, "Première danse")
    # Our own name, in the tenant's folder, with the extension of the real format.
    directory, _, filename = stored.image.name.rpartition("/")
    assert directory == f"tenants/{tenant.pk}/packages"
    assert filename.endswith(f".{extension}")
    assert len(filename) == 32 + 1 + len(extension)
    [thumbnail] = stored.thumbnails  # 360 px wide; 720 would be larger than the photo
    assert (thumbnail["width"], thumbnail["height"]) == (360, 240)
    assert thumbnail["name"].startswith(f"tenants/{tenant.pk}/packages/thumbs/")
    assert thumbnail["name"].endswith("-360.webp")
    assert stored_files(media_root) == sorted([stored.image.name, thumbnail["name"]])
    assert (media_root / stored.image.name).read_bytes() == content
    with Image.open(media_root / thumbnail["name"]) as made:
        assert (made.format, made.size) == ("WEBP", (360, 240))
    assert catalog_version(tenant) == version + 1


def test_thumbnails_at_the_sizes_the_booking_page_shows_go_with_the_photo(
    tenant, package, media_root, django_capture_on_commit_callbacks
):
    photo = add_photo(tenant, image=upload(image_bytes("JPEG", size=(1600, 1200)), name="a.jpg"))

    assert [(t["width"], t["height"]) for t in photo.thumbnails] == [(360, 270), (720, 540)]
    assert len(stored_files(media_root)) == 3

    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
        services.package_photo_delete(tenant=tenant, photo_id=photo.pk)

    assert stored_files(media_root) == []


def test_an_image_of_exactly_5_mb_is_accepted(tenant, package, media_root):
    content = image_bytes("PNG")
    # Bytes after IEND are ignored by decoders: pad to the limit exactly.
    content += b"\0" * (MAX_IMAGE_BYTES - len(content))

    photo = add_photo(tenant, image=upload(content))

    assert stored_files(media_root) == [photo.image.name]
    assert (media_root / photo.image.name).stat().st_size == MAX_IMAGE_BYTES


def _truncated(fmt: str) -> bytes:
    content = image_bytes(fmt, size=(320, 240))
    return content[: len(content) // 2]


def _bomb() -> bytes:
    # 90 M blank 1-bit pixels: a tiny file that would decode into a huge one.
    buffer = io.BytesIO()
    Image.new("1", (10_000, 9_000)).save(buffer, "PNG")
    assert len(buffer.getvalue()) < 1024 * 1024
    return buffer.getvalue()


REFUSED_UPLOADS = {
    "text renamed .png": (lambda: b"just some text, not a picture\n" * 20, "invalid_image"),
    "empty file": (lambda: b"", "invalid_image"),
    "truncated PNG": (lambda: _truncated("PNG"), "invalid_image"),
    "truncated JPEG": (lambda: _truncated("JPEG"), "invalid_image"),
    "JPEG missing its last bytes": (lambda: image_bytes("JPEG")[:-20], "invalid_image"),
    "truncated WebP": (lambda: _truncated("WEBP"), "invalid_image"),
    "GIF (not accepted)": (lambda: image_bytes("GIF", mode="P"), "invalid_image"),
    "decompression bomb": (_bomb, "invalid_image"),
    "over 5 MB": (lambda: b"\x89PNG" + b"\0" * MAX_IMAGE_BYTES, "file_too_large"),
}


@pytest.mark.parametrize(
    ("make_content", "code"), REFUSED_UPLOADS.values(), ids=REFUSED_UPLOADS.keys()
)
def test_a_refused_upload_stores_nothing(
    tenant, package, media_root, photo_rows, make_content, code
):
    version = catalog_version(tenant)

    with pytest.raises(ValidationError) as caught:
        add_photo(tenant, image=upload(make_content(), name="photo.png"))

    assert {f: [e.code for e in errors] for f, errors in caught.value.error_dict.items()} == {
        "image": [code]
    }
    assert photo_rows() == []
    assert stored_files(media_root) == []
    assert catalog_version(tenant) == version


def test_a_sixth_photo_is_refused_and_stores_nothing(tenant, package, media_root, photo_rows):
    photos = [add_photo(tenant, position=i) for i in range(5)]
    before_rows, before_files = photo_rows(), stored_files(media_root)
    version = catalog_version(tenant)

    with pytest.raises(PhotoLimitReached) as caught:
        add_photo(tenant)

    assert (caught.value.code, caught.value.status) == ("photo_limit", 400)
    assert len(before_rows) == 5
    assert photo_rows() == before_rows
    assert stored_files(media_root) == before_files == sorted(p.image.name for p in photos)
    assert catalog_version(tenant) == version


def test_the_photo_limit_counts_per_package(tenant, package, media_root):
    with scopes_disabled():
        PackageFactory(tenant=tenant, slug="classic")
    for _ in range(5):
        add_photo(tenant, package_slug="elopement")

    add_photo(tenant, package_slug="classic")

    with scopes_disabled():
        assert Counter(PackagePhoto.objects.values_list("package__slug", flat=True)) == {
            "elopement": 5,
            "classic": 1,
        }
    assert len(stored_files(media_root)) == 6


@pytest.mark.parametrize("package_slug", ["no-such-package", "theirs"])
def test_a_photo_for_an_unknown_or_other_tenants_package_stores_nothing(
    tenant, other_tenant, package, media_root, photo_rows, package_slug
):
    with scopes_disabled():
        PackageFactory(tenant=other_tenant, slug="theirs")

    with pytest.raises(PackageNotFound) as caught:
        add_photo(tenant, package_slug=package_slug)

    assert caught.value.code == "not_found"
    assert photo_rows() == []
    assert stored_files(media_root) == []


def test_a_too_long_alt_text_stores_nothing(tenant, package, media_root, photo_rows):
    with pytest.raises(ValidationError) as caught:
        add_photo(tenant, alt="a" * 201)

    assert list(caught.value.error_dict) == ["alt"]
    assert photo_rows() == []
    assert stored_files(media_root) == []


# --- updating and deleting ----------------------------------------------------------


def test_alt_text_and_position_update(tenant, package, photo_rows):
    photo = add_photo(tenant, alt="Old", position=0)
    version = catalog_version(tenant)

    with tenant_scope(tenant):
        services.package_photo_update(tenant=tenant, photo_id=photo.pk, alt="Le baiser — éçà")
        services.package_photo_update(tenant=tenant, photo_id=photo.pk, position=3)

    with scopes_disabled():
        stored = PackagePhoto.objects.get()
    assert (stored.alt, stored.position, stored.image.name) == (
        "Le baiser — éçà",
        3,
        photo.image.name,
    )
    assert catalog_version(tenant) == version + 2


def test_a_too_long_alt_text_update_changes_nothing(tenant, package, photo_rows):
    photo = add_photo(tenant, alt="Old")
    before = photo_rows()

    with tenant_scope(tenant), pytest.raises(ValidationError) as caught:
        services.package_photo_update(tenant=tenant, photo_id=photo.pk, alt="a" * 201)

    assert [e.code for e in caught.value.error_dict["alt"]] == ["max_length"]
    assert photo_rows() == before


def test_photo_delete_removes_the_file_once_committed(
    tenant, package, media_root, photo_rows, django_capture_on_commit_callbacks
):
    kept = add_photo(tenant)
    doomed = add_photo(tenant)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with tenant_scope(tenant):
            services.package_photo_delete(tenant=tenant, photo_id=doomed.pk)
        # The row is gone; the file waits for the commit (a rollback keeps both).
        assert [row[0] for row in photo_rows()] == [kept.pk]
        assert stored_files(media_root) == sorted([kept.image.name, doomed.image.name])

    # One file deletion after commit (beside the catalog change's new
    # revocation epoch, tenants.signals).
    assert [c.__name__ for c in callbacks if c.__name__ != "new_epoch"] == ["delete_files"]
    assert stored_files(media_root) == [kept.image.name]


def test_package_delete_removes_its_photo_files_once_committed(
    tenant, package, media_root, photo_rows, django_capture_on_commit_callbacks
):
    with scopes_disabled():
        PackageFactory(tenant=tenant, slug="classic")
    add_photo(tenant, package_slug="elopement")
    add_photo(tenant, package_slug="elopement")
    kept = add_photo(tenant, package_slug="classic")

    with django_capture_on_commit_callbacks(execute=True):
        with tenant_scope(tenant):
            services.package_delete(tenant=tenant, slug="elopement")
        assert len(stored_files(media_root)) == 3

    assert [row[0] for row in photo_rows()] == [kept.pk]
    assert stored_files(media_root) == [kept.image.name]


@pytest.mark.parametrize("photo_id", ["theirs", 987_654, "not-an-id"])
def test_updating_or_deleting_an_unknown_or_other_tenants_photo_is_not_found(
    tenant,
    other_tenant,
    package,
    media_root,
    photo_rows,
    photo_id,
    django_capture_on_commit_callbacks,
):
    with scopes_disabled():
        PackageFactory(tenant=other_tenant, slug="elopement")
    theirs = add_photo(other_tenant)
    if photo_id == "theirs":
        photo_id = theirs.pk
    before_rows, before_files = photo_rows(), stored_files(media_root)

    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
        with pytest.raises(PhotoNotFound) as updating:
            services.package_photo_update(tenant=tenant, photo_id=photo_id, alt="Mine now")
        with pytest.raises(PhotoNotFound) as deleting:
            services.package_photo_delete(tenant=tenant, photo_id=photo_id)

    assert (updating.value.code, deleting.value.code) == ("not_found", "not_found")
    assert photo_rows() == before_rows
    assert stored_files(media_root) == before_files == [theirs.image.name]


# --- concurrency ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_beyond_the_limit_leave_exactly_five_photos_and_files(media_root):
    tenant = TenantFactory()
    with scopes_disabled():
        PackageFactory(tenant=tenant, slug="elopement")
    for _ in range(3):
        add_photo(tenant)
    contenders = 4
    barrier = threading.Barrier(contenders)
    results: list[object] = [None] * contenders

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = add_photo(tenant)
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    outcomes = Counter(
        "added" if isinstance(r, PackagePhoto) else getattr(r, "code", repr(r)) for r in results
    )
    assert outcomes == {"added": 2, "photo_limit": 2}
    with scopes_disabled():
        names = sorted(PackagePhoto.objects.values_list("image", flat=True))
    assert len(names) == 5
    # Losers that had already uploaded deleted their file again.
    assert stored_files(media_root) == names
