"""The couples' API, /api/v1/ (API.md §1). Each app lists its own routes."""

from django.urls import include, path

urlpatterns = [
    path("", include("tenants.api.urls")),
    path("", include("catalog.api.urls")),
    path("", include("bookings.api.urls")),
]
