from django.conf import settings
from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from config import views
from config.errors import error_json_response

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("api/v1/", include("config.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        # The split view serves Swagger UI's initializer as a script file
        # (?script) rather than inline: the CSP allows no inline scripts.
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api_docs/swagger_ui.html"
        ),
        name="api-docs",
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("tenants.account_urls")),
    path("branding/", include("tenants.branding_urls")),
    # Staff's private calendar feeds: /calendar/<secret>.ics (backoffice/).
    path("", include("backoffice.urls")),
    # The couple-facing pages: /book/<tenant>/…, /bookings/<id>/… (storefront/).
    path("", include("storefront.urls")),
    path("", include("webhooks.urls")),
]

if settings.BENCH_BARE_VIEW:
    urlpatterns.append(path("api/_bench/bare", views.BenchBareView.as_view(), name="bench-bare"))

if settings.DEBUG:
    from django.conf.urls.static import static

    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)

# Last: any other path under the API answers the contract's JSON 404 here,
# not through handler404, which Django bypasses in debug mode for its
# technical 404 page (HTML listing every URL pattern).
urlpatterns += [re_path(r"^(?:api|stripe)/", views.api_not_found, name="api-not-found")]


def _is_api(request: HttpRequest) -> bool:
    # The Stripe webhook endpoint answers machines too: its 5xx (which make
    # Stripe retry) keep the JSON shape.
    return request.path.startswith(("/api/", "/healthz", "/readyz", "/stripe/"))


# Errors raised outside DRF views (unknown routes, crashes in middleware)
# keep the contract's shape on API paths; HTML pages keep Django's pages.
def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_json_response(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return error_json_response(500, "internal_error", "Internal error.")
    return defaults.server_error(request)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return error_json_response(400, "bad_request", "Bad request.")
    return defaults.bad_request(request, exception)
