"""The couples' catalog endpoints: validate -> cached selector -> serialize."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from catalog.api.serializers import (
    MAX_PAGE_SIZE,
    PackageListInputSerializer,
    PackageOutputSerializer,
    PackagePageOutputSerializer,
)
from catalog.cache import catalog_package_detail_cached, catalog_package_list_cached
from catalog.errors import PackageNotFound
from tenants.api.base import TenantApiView


def with_absolute_urls(package: dict, origin: str) -> dict:
    """The cached package, already in its output shape (PackageOutputSerializer
    documents it), with photo URLs made absolute for this request's origin.
    Warm reads skip DRF serializers on purpose: the shape was fixed when the
    entry was built, and re-serializing it cost most of a warm request."""
    if not package["photos"]:
        return package

    def absolute(url: str) -> str:
        # Storage may already give absolute URLs (a CDN); only paths get the origin.
        return origin + url if url.startswith("/") else url

    photos = [
        {
            **photo,
            "url": absolute(photo["url"]),
            "thumbnails": [
                {**thumb, "url": absolute(thumb["url"])} for thumb in photo.get("thumbnails", [])
            ],
        }
        for photo in package["photos"]
    ]
    return {**package, "photos": photos}


def request_origin(request: Request) -> str:
    """scheme://host of the request, once (cached photo URLs are paths)."""
    return request.build_absolute_uri("/")[:-1]


class PackagePagination(PageNumberPagination):
    page_size = 20
    page_size_query_param = "page_size"
    max_page_size = MAX_PAGE_SIZE


class PackageListApi(TenantApiView):
    """The tenant's active packages, in its display order, 20 a page."""

    @extend_schema(
        description="The tenant's active packages, in its display order, paginated. "
        "A page past the last one is 404 `not_found`; a malformed `page` or "
        "`page_size` is 400 `validation_error`.",
        parameters=[PackageListInputSerializer],
        responses=PackagePageOutputSerializer,
        operation_id="package_list",
    )
    def get(self, request: Request) -> Response:
        # DRF's paginator silently falls back to the default for a bad
        # page_size; the contract answers 400 instead.
        if request.query_params:  # the common first page skips building a serializer
            PackageListInputSerializer(data=request.query_params).is_valid(raise_exception=True)
        packages = catalog_package_list_cached(tenant=self.tenant)
        # The whole active catalog is one cache entry; pages are cut in memory.
        paginator = PackagePagination()
        page = paginator.paginate_queryset(packages, request, view=self)
        origin = request_origin(request)
        return paginator.get_paginated_response([with_absolute_urls(p, origin) for p in page])


class PackageDetailApi(TenantApiView):
    """One active package by slug."""

    @extend_schema(
        description="One active package. Unknown, inactive or another tenant's "
        "slug: 404 `not_found`.",
        responses=PackageOutputSerializer,
        operation_id="package_retrieve",
    )
    def get(self, request: Request, slug: str) -> Response:
        package = catalog_package_detail_cached(tenant=self.tenant, slug=slug)
        if package is None:
            raise PackageNotFound()
        return Response(with_absolute_urls(package, request_origin(request)))
