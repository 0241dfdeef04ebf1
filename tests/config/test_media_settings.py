"""Media settings from the environment (config/settings.py), in fresh
processes as production starts them: S3 when AWS_STORAGE_BUCKET_NAME is set
(against the loopback S3 server), local disk otherwise, /media/ served in
debug only, and the media system checks."""

from __future__ import annotations

import json
import urllib.request

import pytest
from django.core.checks import run_checks
from django.db import connection

from tests.conftest import (
    REAL_SECRET,
    S3_ACCESS_KEY,
    S3_REGION,
    S3_SECRET_KEY,
    run_python,
    s3_storage_options,
)

PRODUCTION = {
    "DJANGO_SECRET_KEY": REAL_SECRET,
    "ALLOWED_HOSTS": "bookings.altar.example",
    "STRIPE_SECRET_KEY": "sk_live_" + "51AltarDeployCheck" + "0" * 20,
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
}

SAVE_AND_DESCRIBE = """
import json, django
django.setup()
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
name = default_storage.save("tenants/7/packages/probe.txt", ContentFile(b"from a fresh process"))
backend = type(default_storage._wrapped)
print(json.dumps({
    "backend": f"{backend.__module__}.{backend.__name__}",
    "name": name,
    "url": default_storage.url(name),
    "media_url": settings.MEDIA_URL,
}))
"""


def s3_environment(s3_media, **extra: str) -> dict[str, str]:
    return {
        **PRODUCTION,
        "AWS_STORAGE_BUCKET_NAME": s3_media.bucket,
        "AWS_S3_ENDPOINT_URL": s3_media.endpoint,
        "AWS_S3_REGION_NAME": S3_REGION,
        "AWS_ACCESS_KEY_ID": S3_ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": S3_SECRET_KEY,
        **extra,
    }


def test_a_bucket_in_the_environment_stores_media_in_it(s3_media):
    result = run_python(["-c", SAVE_AND_DESCRIBE], **s3_environment(s3_media))

    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    url = f"{s3_media.endpoint}/{s3_media.bucket}/tenants/7/packages/probe.txt"
    assert described == {
        "backend": "config.storage_s3.MediaS3Storage",
        "name": "tenants/7/packages/probe.txt",
        "url": url,
        "media_url": "/media/",
    }
    assert s3_media.objects() == {"tenants/7/packages/probe.txt": b"from a fresh process"}
    with urllib.request.urlopen(url, timeout=5) as served:
        assert served.read() == b"from a fresh process"


def test_a_custom_domain_gives_the_urls_and_media_url(s3_media):
    result = run_python(
        ["-c", SAVE_AND_DESCRIBE],
        **s3_environment(s3_media, AWS_S3_CUSTOM_DOMAIN="media.altar.example"),
    )

    assert result.returncode == 0, result.stderr
    described = json.loads(result.stdout)
    assert (described["url"], described["media_url"]) == (
        "https://media.altar.example/tenants/7/packages/probe.txt",
        "https://media.altar.example/",
    )


def test_without_a_bucket_media_stay_on_local_disk(tmp_path):
    result = run_python(["-c", SAVE_AND_DESCRIBE], DJANGO_DEBUG="true", MEDIA_ROOT=str(tmp_path))

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "backend": "config.storage.MediaFileSystemStorage",
        "name": "tenants/7/packages/probe.txt",
        "url": "/media/tenants/7/packages/probe.txt",
        "media_url": "/media/",
    }
    assert (tmp_path / "tenants/7/packages/probe.txt").read_bytes() == b"from a fresh process"


SERVE = """
import django
django.setup()
from django.test import Client
response = Client().get("/media/tenants/7/logo.png")
body = b"".join(response.streaming_content) if response.status_code == 200 else b""
print(response.status_code, body.decode())
"""


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({"DJANGO_DEBUG": "true"}, "200 a logo"),  # make run
        ({**PRODUCTION, "ALLOWED_HOSTS": "testserver", "SECURE_SSL_REDIRECT": "false"}, "404"),
    ],
    ids=["debug", "production"],
)
def test_local_media_are_served_by_the_app_in_debug_only(tmp_path, environment, expected):
    (tmp_path / "tenants/7").mkdir(parents=True)
    (tmp_path / "tenants/7/logo.png").write_text("a logo")

    result = run_python(["-c", SERVE], MEDIA_ROOT=str(tmp_path), **environment)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.mark.django_db
def test_check_deploy_warns_when_production_media_are_on_local_disk():
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DATABASE_URL=database_url(),
        **PRODUCTION,
    )

    assert result.returncode != 0
    assert "altar.W030" in result.stderr
    # The only issue: everything else about this environment is production-ready.
    assert "(0 silenced)" in result.stderr
    assert "System check identified 1 issue" in result.stderr


# --- altar.E031: presigned URLs must outlive cached catalog entries -------------


def media_check_ids() -> list[str]:
    return [m.id for m in run_checks(tags=["altar"]) if m.id in {"altar.E031"}]


@pytest.mark.parametrize(
    ("querystring_auth", "expire", "expected"),
    [
        (True, 3600, ["altar.E031"]),  # expires as the cache entry it sits in ages
        (True, 2 * 3600, []),  # the cache's hour plus an hour's margin
        (False, 60, []),  # plain URLs never expire
    ],
)
def test_presigned_photo_urls_must_outlive_the_catalog_cache(
    settings, querystring_auth, expire, expected
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "config.storage_s3.MediaS3Storage",
            "OPTIONS": s3_storage_options(
                "http://127.0.0.1:9", querystring_auth=querystring_auth, querystring_expire=expire
            ),
        },
    }

    assert media_check_ids() == expected


# --- altar.W030: production media must not stay on one host's disk -------------

LOCAL = {"BACKEND": "config.storage.MediaFileSystemStorage"}


def media_served_warnings() -> list[str]:
    messages = run_checks(tags=["altar"], include_deployment_checks=True)
    return [m.id for m in messages if m.id == "altar.W030"]


@pytest.mark.parametrize(
    ("debug", "storage", "media_url", "expected"),
    [
        (False, "local", "/media/", ["altar.W030"]),
        (True, "local", "/media/", []),  # make run serves /media/ itself
        (False, "local", "https://bookings.altar.example/media/", []),  # its web server does
        (False, "s3", "/media/", []),
    ],
    ids=["production-local", "debug-local", "production-served-elsewhere", "production-s3"],
)
def test_local_media_in_production_are_warned_about(settings, debug, storage, media_url, expected):
    settings.DEBUG = debug
    settings.MEDIA_URL = media_url
    settings.STORAGES = {
        **settings.STORAGES,
        "default": LOCAL
        if storage == "local"
        else {
            "BACKEND": "config.storage_s3.MediaS3Storage",
            "OPTIONS": s3_storage_options("http://127.0.0.1:9"),
        },
    }

    assert media_served_warnings() == expected
