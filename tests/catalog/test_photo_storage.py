"""Package photos on the configured storage: local disk, or an S3 bucket on
a loopback S3 server (moto's server mode; boto3 and django-storages run for
real). Uploads land in the bucket, the API's URLs serve the bytes to anyone,
deletes remove the object after commit, and an upload whose transaction
rolls back leaves nothing behind."""

from __future__ import annotations

import io
import urllib.request

import pytest
from django.db import transaction
from PIL import Image

from catalog import services
from catalog.models import PackagePhoto
from tenants.scoping import scopes_disabled, tenant_scope
from tests.conftest import s3_storage_options
from tests.factories import PackageFactory, TenantFactory


class Boom(Exception):
    """Raised after the upload, to force the rollback under test."""


def png_bytes(size: tuple[int, int] = (40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (120, 80, 200)).save(buffer, "PNG")
    return buffer.getvalue()


def add_photo(tenant, content: bytes | None = None, **kwargs) -> PackagePhoto:
    from django.core.files.uploadedfile import SimpleUploadedFile

    image = SimpleUploadedFile("our day.png", content or png_bytes(), content_type="image/png")
    with tenant_scope(tenant):
        return services.package_photo_add(
            tenant=tenant, package_slug="elopement", image=image, **kwargs
        )


def photo_ids() -> list[int]:
    with scopes_disabled():
        return list(PackagePhoto.objects.order_by("pk").values_list("pk", flat=True))


def fetch(url: str) -> tuple[int, bytes, str]:
    # A couple's browser: a plain GET, no credentials.
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read(), response.headers["Content-Type"]


@pytest.fixture
def package(tenant):
    with scopes_disabled():
        return PackageFactory(tenant=tenant, slug="elopement")


# --- S3: stored in the bucket, served at the URL the API gives --------------------


@pytest.mark.django_db
def test_a_photo_goes_to_the_bucket_and_its_api_url_serves_the_bytes(
    tenant, package, tenant_api, s3_media
):
    content = png_bytes((64, 48))

    photo = add_photo(tenant, content, alt="The oak")
    cold = tenant_api.get("/api/v1/packages/elopement")
    warm = tenant_api.get("/api/v1/packages/elopement")

    name = photo.image.name
    assert name.startswith(f"tenants/{tenant.pk}/packages/") and name.endswith(".png")
    assert s3_media.objects() == {name: content}
    head = s3_media.client.head_object(Bucket=s3_media.bucket, Key=name)
    assert (head["ContentType"], head["CacheControl"]) == (
        "image/png",
        "public, max-age=31536000, immutable",
    )
    url = f"{s3_media.endpoint}/{s3_media.bucket}/{name}"
    assert cold.status_code == warm.status_code == 200
    assert (
        cold.json()["photos"]
        == warm.json()["photos"]
        == [{"url": url, "alt": "The oak", "width": 64, "height": 48, "thumbnails": []}]
    )
    assert fetch(url) == (200, content, "image/png")


@pytest.mark.django_db
def test_with_a_custom_domain_photo_urls_use_it(tenant, package, tenant_api, s3_media, settings):
    # A CDN (or the bucket's own website endpoint) in front of the bucket;
    # here the loopback server's path-style address stands in for it.
    domain = f"{s3_media.endpoint.removeprefix('http://')}/{s3_media.bucket}"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "config.storage_s3.MediaS3Storage",
            "OPTIONS": s3_storage_options(
                s3_media.endpoint, custom_domain=domain, url_protocol="http:"
            ),
        },
    }
    content = png_bytes()

    photo = add_photo(tenant, content)
    response = tenant_api.get("/api/v1/packages/elopement")

    url = f"http://{domain}/{photo.image.name}"
    assert [p["url"] for p in response.json()["photos"]] == [url]
    assert fetch(url) == (200, content, "image/png")


@pytest.mark.django_db
def test_deleting_a_photo_removes_its_object_once_committed(
    tenant, package, s3_media, django_capture_on_commit_callbacks
):
    kept, doomed = add_photo(tenant), add_photo(tenant)

    with django_capture_on_commit_callbacks(execute=True):
        with tenant_scope(tenant):
            services.package_photo_delete(tenant=tenant, photo_id=doomed.pk)
        # Not before the commit: a rollback would keep the row, and its photo.
        assert sorted(s3_media.objects()) == sorted([kept.image.name, doomed.image.name])

    assert photo_ids() == [kept.pk]
    assert sorted(s3_media.objects()) == [kept.image.name]


# --- rollback: no orphan, on either storage --------------------------------------


@pytest.mark.django_db
def test_an_upload_in_a_transaction_that_rolls_back_leaves_no_file(tenant, package, media_store):
    with pytest.raises(Boom), transaction.atomic():
        photo = add_photo(tenant)
        # Written (and readable) inside the transaction...
        assert media_store.names() == [photo.image.name]
        raise Boom

    # ...and gone with it.
    assert photo_ids() == []
    assert media_store.names() == []


@pytest.mark.django_db(transaction=True)
def test_a_real_rollback_deletes_the_upload_and_a_commit_keeps_it(media_store):
    # Outermost transactions here (no test-case wrapper): ROLLBACK and
    # COMMIT as in production.
    tenant = TenantFactory()
    with scopes_disabled():
        PackageFactory(tenant=tenant, slug="elopement")

    with transaction.atomic():
        kept = add_photo(tenant)
    with pytest.raises(Boom), transaction.atomic():
        lost = add_photo(tenant)
        raise Boom
    # A later rollback does not touch what an earlier transaction committed.
    with pytest.raises(Boom), transaction.atomic():
        raise Boom

    assert lost.image.name != kept.image.name
    assert photo_ids() == [kept.pk]
    assert media_store.names() == [kept.image.name]


@pytest.mark.django_db(transaction=True)
def test_a_savepoint_rollback_deletes_only_what_was_written_inside_it(media_store):
    tenant = TenantFactory()
    with scopes_disabled():
        PackageFactory(tenant=tenant, slug="elopement")

    with transaction.atomic():
        outer = add_photo(tenant)
        with pytest.raises(Boom), transaction.atomic():
            inner = add_photo(tenant)
            raise Boom
        assert media_store.names() == [outer.image.name]

    assert inner.image.name != outer.image.name
    assert photo_ids() == [outer.pk]
    assert media_store.names() == [outer.image.name]


@pytest.mark.django_db
def test_a_refused_add_under_the_lock_deletes_its_upload(tenant, package, media_store, monkeypatch):
    existing = [add_photo(tenant) for _ in range(4)]
    real_count = services._photo_count
    counts = []

    def count_with_a_concurrent_add(**kwargs) -> int:
        # The early check sees 4; by the locked re-check (after the upload)
        # another add has taken the last place.
        counts.append(real_count(**kwargs) + len(counts))
        return counts[-1]

    monkeypatch.setattr(services, "_photo_count", count_with_a_concurrent_add)

    with pytest.raises(services.PhotoLimitReached):
        add_photo(tenant)

    assert counts == [4, 5]
    assert photo_ids() == [p.pk for p in existing]
    assert media_store.names() == sorted(p.image.name for p in existing)
