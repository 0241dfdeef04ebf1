"""Public pages of the tenants app: the branding stylesheet."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse

from tenants.branding import branding_css
from tenants.models import Tenant

# A URL with the current version never changes content (a branding write
# bumps the version, hence the URL); any other answer may change soon.
CACHE_VERSIONED = "public, max-age=31536000, immutable"
CACHE_UNVERSIONED = "public, max-age=60"
BRANDING_COLUMNS = ("slug", "primary_color", "secondary_color", "font_family", "catalog_version")


def tenant_branding_css(request: HttpRequest, slug: str) -> HttpResponse:
    # Branding is public (the API serves it to anyone with the publishable
    # key, and the status page shows it); Tenant is the root of tenancy,
    # not a scoped model.
    tenant = Tenant.objects.filter(slug=slug).only(*BRANDING_COLUMNS).first()
    if tenant is None:
        raise Http404("No such tenant.")
    response = HttpResponse(branding_css(tenant), content_type="text/css; charset=utf-8")
    versioned = request.GET.get("v") == str(tenant.catalog_version)
    response["Cache-Control"] = CACHE_VERSIONED if versioned else CACHE_UNVERSIONED
    return response
