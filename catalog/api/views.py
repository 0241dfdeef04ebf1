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
        PackageListInputSerializer(data=request.query_params).is_valid(raise_exception=True)
        packages = catalog_package_list_cached(tenant=self.tenant)
        # The whole active catalog is one cache entry; pages are cut in memory.
        paginator = PackagePagination()
        page = paginator.paginate_queryset(packages, request, view=self)
        results = PackageOutputSerializer(page, many=True, context={"request": request}).data
        return paginator.get_paginated_response(results)


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
        return Response(PackageOutputSerializer(package, context={"request": request}).data)
