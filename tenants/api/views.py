from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api.base import TenantApiView
from tenants.api.serializers import TenantOutputSerializer


class TenantDetailApi(TenantApiView):
    @extend_schema(responses=TenantOutputSerializer, operation_id="tenant_retrieve")
    def get(self, request: Request) -> Response:
        tenant = self.tenant
        data = {
            "slug": tenant.slug,
            "name": tenant.name,
            "currency": tenant.currency,
            "timezone": tenant.timezone,
            "branding": {
                "primary_color": tenant.primary_color,
                "secondary_color": tenant.secondary_color,
                "font_family": tenant.font_family,
                "logo_url": request.build_absolute_uri(tenant.logo.url) if tenant.logo else None,
            },
            "booking_window": {
                "min_notice_days": tenant.min_notice_days,
                "max_advance_days": tenant.max_advance_days,
            },
        }
        return Response(TenantOutputSerializer(data).data)
