"""Tenant logos on the configured storage (an S3 bucket on a loopback S3
server, or local disk): uploaded through the admin by an owner, served at the
URL the tenant API gives, replaced logos deleted once committed, and a logo
written in a transaction that rolls back leaves nothing behind."""

from __future__ import annotations

import urllib.request

import pytest
from django.db import transaction

from tenants.models import Tenant
from tenants.services import tenant_update
from tests.admin_pages import page_form_data, png_upload
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

TENANTS = "/admin/tenants/tenant/"


class Boom(Exception):
    """Raised after the upload, to force the rollback under test."""


def logo_upload(name: str = "logo.png", size: tuple[int, int] = (60, 20)):
    upload = png_upload(name=name, size=size)
    content = upload.read()
    upload.seek(0)
    return upload, content


def post_logo(client, tenant: Tenant, **fields):
    page = client.get(f"{TENANTS}{tenant.pk}/change/")
    response = client.post(f"{TENANTS}{tenant.pk}/change/", {**page_form_data(page), **fields})
    assert response.status_code == 302
    return Tenant.objects.get(pk=tenant.pk).logo.name


def test_an_owners_logo_goes_to_the_bucket_and_the_api_url_serves_it(
    owner_client, tenant, tenant_api, s3_media
):
    upload, content = logo_upload()

    name = post_logo(owner_client, tenant, logo=upload)
    response = tenant_api.get("/api/v1/tenant")

    assert name.startswith("tenants/logos/logo") and name.endswith(".png")
    assert s3_media.objects() == {name: content}
    url = f"{s3_media.endpoint}/{s3_media.bucket}/{name}"
    assert response.json()["branding"]["logo_url"] == url
    with urllib.request.urlopen(url, timeout=5) as served:
        assert (served.status, served.read()) == (200, content)


def test_a_replaced_or_cleared_logo_is_deleted_once_committed(
    owner_client, tenant, s3_media, django_capture_on_commit_callbacks
):
    first_upload, _ = logo_upload(size=(10, 10))
    second_upload, second = logo_upload(size=(20, 20))
    first = post_logo(owner_client, tenant, logo=first_upload)

    with django_capture_on_commit_callbacks(execute=True):
        replaced = post_logo(owner_client, tenant, logo=second_upload)
        # The old file stays until the commit: a rollback would keep the row.
        assert sorted(s3_media.objects()) == sorted([first, replaced])

    assert s3_media.objects() == {replaced: second}

    with django_capture_on_commit_callbacks(execute=True):
        cleared = post_logo(owner_client, tenant, **{"logo-clear": "on"})

    assert cleared == ""
    assert s3_media.objects() == {}


def test_two_tenants_uploading_the_same_file_name_keep_their_own_logos(
    tenant, other_tenant, client, s3_media
):
    # S3 would overwrite an object of the same name; the storage never does.
    mine, my_content = logo_upload(size=(10, 10))
    theirs, their_content = logo_upload(size=(30, 30))
    client.force_login(MembershipFactory(tenant=tenant, role="owner").user)
    my_name = post_logo(client, tenant, logo=mine)
    client.force_login(MembershipFactory(tenant=other_tenant, role="owner").user)

    their_name = post_logo(client, other_tenant, logo=theirs)

    assert my_name != their_name
    assert s3_media.objects() == {my_name: my_content, their_name: their_content}


def test_a_logo_written_in_a_transaction_that_rolls_back_leaves_no_file(tenant, media_store):
    upload, _ = logo_upload()

    with pytest.raises(Boom), transaction.atomic():
        saved = tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), logo=upload)
        assert media_store.names() == [saved.logo.name]
        raise Boom

    assert Tenant.objects.get(pk=tenant.pk).logo.name == ""
    assert media_store.names() == []
