"""/branding/<tenant>.css: each tenant's colours and font, for the
storefront pages and the embedded widget."""

from django.urls import path

from tenants.views import tenant_branding_css

urlpatterns = [
    path("<slug:slug>.css", tenant_branding_css, name="tenant-branding-css"),
]
