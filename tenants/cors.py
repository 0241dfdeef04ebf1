"""CORS for couples' websites: each tenant lists its own origins.

django-cors-headers answers the browser; this receiver of its
`check_request_enabled` signal decides whether an origin may call the API.
A preflight (OPTIONS) carries no key value, only the header names, so it is
allowed for an origin that any active tenant lists; the actual request must
come from an origin listed by the tenant its X-Tenant-Key names. A key from
another tenant's website therefore gets no CORS headers and the browser
keeps the answer from the page.
"""

from __future__ import annotations

from corsheaders.signals import check_request_enabled
from django.dispatch import receiver
from django.http import HttpRequest

from tenants.api.auth import request_api_key
from tenants.models import Tenant
from tenants.scoping import scopes_disabled

API_PREFIX = "/api/v1/"


def origin_allowed(request: HttpRequest) -> bool:
    origin = request.headers.get("Origin", "")
    # django-cors-headers enables CORS on any path a receiver approves: the
    # admin and the webhook endpoint must never answer cross-origin.
    if not origin or not request.path.startswith(API_PREFIX):
        return False
    if request.method == "OPTIONS":
        with scopes_disabled():
            return Tenant.objects.filter(active=True, cors_origins__contains=[origin]).exists()
    api_key = request_api_key(request)
    return api_key is not None and origin in api_key.tenant.cors_origins


@receiver(check_request_enabled)
def cors_allow_tenant_origins(sender, request: HttpRequest, **kwargs) -> bool:
    return origin_allowed(request)
