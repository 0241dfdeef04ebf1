"""django-unfold's callbacks (settings.UNFOLD): the header shows the active
tenant's name and logo, and the sidebar groups the models the signed-in
person may see into the owner's words. Platform models (dj-stripe's Stripe
mirror, task results, login lockouts) carry no tenant: their admins grant
nothing to tenant staff, and superusers find them under one "Platform" group.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse

# (app_label, model name) -> (group, icon); Material Symbols names.
_GROUPS: dict[tuple[str, str], tuple[str, str]] = {
    ("bookings", "Booking"): ("Bookings", "event"),
    ("bookings", "BlackoutDate"): ("Bookings", "event_busy"),
    ("bookings", "PaymentReview"): ("Payments", "rule"),
    ("bookings", "BookingDispute"): ("Payments", "gavel"),
    ("bookings", "CancellationRequest"): ("Bookings", "event_busy"),
    ("bookings", "TermsVersion"): ("Business", "gavel"),
    ("bookings", "BookingQuestion"): ("Business", "quiz"),
    ("bookings", "BookingPolicy"): ("Business", "policy"),
    ("bookings", "ReconcileRun"): ("Platform", "balance"),
    ("webhooks", "StripeEvent"): ("Payments", "webhook"),
    ("catalog", "Package"): ("Catalog", "inventory_2"),
    ("catalog", "AddOn"): ("Catalog", "add_circle"),
    ("tenants", "Tenant"): ("Business", "storefront"),
    ("tenants", "TenantMembership"): ("Business", "group"),
    ("tenants", "ApiKey"): ("Business", "key"),
    ("tenants", "AuditEntry"): ("Business", "history"),
}
# Tenant staff read their business's words; superusers keep the models' names.
_STAFF_TITLES = {
    ("tenants", "Tenant"): "Settings",
    ("tenants", "TenantMembership"): "Team",
}
_GROUP_ORDER = ["Bookings", "Payments", "Catalog", "Business", "Other", "Platform"]
# Apps with no tenant: platform operators' business only.
PLATFORM_APPS = frozenset({"djstripe", "django_tasks_database", "axes", "auth"})


def site_subheader(request: HttpRequest) -> str:
    tenant = getattr(request, "tenant", None)
    if tenant is not None:
        return tenant.name
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_superuser:
        return "Platform"
    return "Back office"


def site_icon(request: HttpRequest) -> str | None:
    tenant = getattr(request, "tenant", None)
    if tenant is not None and tenant.logo:
        return tenant.logo.url
    return None


def site_favicon(request: HttpRequest) -> str:
    return static("backoffice/altar-mark.svg")


def _url(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def sidebar_navigation(request: HttpRequest) -> list[dict[str, Any]]:
    """Groups of links, from the admin's own app list (so each person sees
    exactly the models their permissions show on the index)."""
    groups: dict[str, list[dict[str, Any]]] = {name: [] for name in _GROUP_ORDER}
    groups["Today"] = [
        {"title": "Dashboard", "icon": "space_dashboard", "link": _url("admin:index")}
    ]
    for app in admin.site.get_app_list(request):
        label = app["app_label"]
        if label in PLATFORM_APPS:
            # One link per platform app (dj-stripe alone has ~40 models).
            groups["Platform"].append(
                {"title": str(app["name"]), "icon": "dns", "link": app["app_url"]}
            )
            continue
        for model in app["models"]:
            group, icon = _GROUPS.get((label, model["object_name"]), ("Other", "table_rows"))
            if model.get("admin_url"):
                title, link = str(model["name"]), model["admin_url"]
                tenant = getattr(request, "tenant", None)
                if not request.user.is_superuser and (label, model["object_name"]) in _STAFF_TITLES:
                    title = _STAFF_TITLES[(label, model["object_name"])]
                    if model["object_name"] == "Tenant" and tenant is not None:
                        # Their one business: straight to its settings page.
                        link = _url("admin:tenants_tenant_change", tenant.pk) or link
                groups[group].append({"title": title, "icon": icon, "link": link})
    if groups["Bookings"]:
        calendar = _url("admin:bookings_booking_calendar")
        if calendar:
            groups["Today"].append(
                {"title": "Calendar", "icon": "calendar_month", "link": calendar}
            )
    return [
        {
            "title": name,
            "separator": name != "Today",
            "collapsible": name == "Platform",
            "items": items,
        }
        for name in ["Today", *_GROUP_ORDER]
        if (items := groups[name])
    ]
