"""System checks for media (package photos, tenant logos): where they are
stored must be reachable by couples' browsers in production."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register
from django.core.files.storage import FileSystemStorage, storages

from catalog.cache import CATALOG_CACHE_SECONDS

# A browser may load a photo some time after the API answered with its URL
# (a page left open, a slow connection): the signature must outlive the
# cache entry by this much.
PRESIGNED_URL_MARGIN_SECONDS = 60 * 60


@register("altar", deploy=True)
def media_served_check(app_configs, **kwargs):
    """Local disk in production: the app does not serve /media/ with
    DJANGO_DEBUG off, and N hosts would each keep their own uploads."""
    if settings.DEBUG or not isinstance(storages["default"], FileSystemStorage):
        return []
    if settings.MEDIA_URL.startswith(("https://", "http://")):
        return []  # another server serves MEDIA_ROOT there (one host only)
    return [
        Warning(
            "Uploaded photos and logos are stored on this host's disk, and /media/ is "
            "not served with DJANGO_DEBUG off: every photo URL would be a 404.",
            hint="Set AWS_STORAGE_BUCKET_NAME (and AWS_S3_* credentials); see docs/deploy.md.",
            id="altar.W030",
        )
    ]


@register("altar")
def media_presigned_url_check(app_configs, **kwargs):
    """The catalog cache keeps photo URLs; presigned ones must not expire
    while an entry can still be served."""
    storage = storages["default"]
    if not getattr(storage, "querystring_auth", False):
        return []
    needed = CATALOG_CACHE_SECONDS + PRESIGNED_URL_MARGIN_SECONDS
    if storage.querystring_expire >= needed:
        return []
    return [
        Error(
            f"AWS_QUERYSTRING_EXPIRE is {storage.querystring_expire} s: presigned photo URLs "
            f"in the catalog cache (kept up to {CATALOG_CACHE_SECONDS} s) would expire "
            "before couples' browsers load them.",
            hint=f"Set AWS_QUERYSTRING_EXPIRE to at least {needed}, or serve public "
            "objects (AWS_QUERYSTRING_AUTH=false).",
            id="altar.E031",
        )
    ]
