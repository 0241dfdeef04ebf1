"""Couples' API: the tenant comes from `X-Tenant-Key` (a publishable key)."""

from django.http import HttpRequest
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from tenants.models import ApiKey
from tenants.selectors import api_key_resolve

TENANT_KEY_HEADER = "X-Tenant-Key"


class TenantKeyMissing(exceptions.AuthenticationFailed):
    altar_code = "tenant_key_missing"
    default_detail = "Send the tenant's publishable key in the X-Tenant-Key header."


class TenantKeyInvalid(exceptions.AuthenticationFailed):
    altar_code = "tenant_key_invalid"
    default_detail = "The X-Tenant-Key is malformed, unknown or revoked."


class TenantInactive(exceptions.PermissionDenied):
    altar_code = "tenant_inactive"
    default_detail = "This business is not taking bookings."


def request_api_key(request: HttpRequest) -> ApiKey | None:
    """The valid publishable key the request's X-Tenant-Key names, resolved
    once per request: the CORS check (before the view) and authentication
    both ask, and each lookup is a database round trip."""
    if not hasattr(request, "_altar_api_key"):
        key = request.headers.get(TENANT_KEY_HEADER, "").strip()
        request._altar_api_key = (
            api_key_resolve(key=key, kind=ApiKey.Kind.PUBLISHABLE) if key else None
        )
    return request._altar_api_key


class TenantKeyAuthentication(BaseAuthentication):
    """Sets request.auth to the ApiKey (its tenant preloaded); no user."""

    def authenticate(self, request: Request) -> tuple[None, ApiKey]:
        if not request.headers.get(TENANT_KEY_HEADER, "").strip():
            raise TenantKeyMissing()
        api_key = request_api_key(request._request)
        if api_key is None:
            raise TenantKeyInvalid()
        if not api_key.tenant.active:
            raise TenantInactive()
        return (None, api_key)

    def authenticate_header(self, request: Request) -> str:
        # Without a WWW-Authenticate value DRF would turn 401 into 403.
        return 'TenantKey header="X-Tenant-Key"'


class TenantKeyScheme(OpenApiAuthenticationExtension):
    """Documents X-Tenant-Key in /api/schema/ (and the docs page's Authorize
    button); without it drf-spectacular omits the header from every endpoint."""

    target_class = TenantKeyAuthentication
    name = "TenantKey"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "header", "name": TENANT_KEY_HEADER}
