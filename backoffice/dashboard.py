"""The admin index as the staff's dashboard (settings.UNFOLD's
DASHBOARD_CALLBACK): unfold calls this with the index's context, at
request time, and templates/admin/index.html shows `dash`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest
from django.urls import reverse
from django.utils.http import urlencode

from backoffice.admin_tenant import admin_tenant
from backoffice.selectors import Dashboard, dashboard_get
from bookings.agreements import cancellation_requests_open
from bookings.notifications import format_money
from bookings.selectors import dashboard_balances, reconcile_last_run
from tenants.admin_base import STAFF_ROLES, role_allowed


@dataclass(frozen=True)
class RevenueRow:
    month: dt.date
    currency: str
    bookings: int
    revenue: str
    commission: str


def dashboard_context(request: HttpRequest) -> dict[str, Any] | None:
    """What templates/admin/index.html shows, or None for users without a
    tenant role (they get Django's plain index)."""
    if not role_allowed(request, STAFF_ROLES):
        return None
    chosen = admin_tenant(request)
    if chosen.tenant is None and not request.user.is_superuser:
        return None
    dashboard: Dashboard = dashboard_get(tenant=chosen.tenant)
    revenue = [
        RevenueRow(
            month=row.month,
            currency=row.currency,
            bookings=row.bookings,
            revenue=format_money(row.revenue_cents, row.currency),
            commission=format_money(row.commission_cents, row.currency),
        )
        for row in dashboard.revenue
    ]
    webhooks = reverse("admin:webhooks_stripeevent_changelist")
    failed_query = {"status__exact": "failed"}
    if chosen.tenant is not None and request.user.is_superuser:
        failed_query["tenant__id__exact"] = chosen.tenant.pk
    tenant_query = ""
    if chosen.tenant is not None and request.user.is_superuser:
        tenant_query = "?" + urlencode({"tenant": chosen.tenant.slug})
    return {
        "tenant": chosen.tenant,
        "tenant_choices": chosen.choices,
        "dashboard": dashboard,
        "revenue_months": [
            {"month": month, "rows": [row for row in revenue if row.month == month]}
            for month in dashboard.months
        ],
        "failed_webhooks_url": f"{webhooks}?{urlencode(failed_query)}",
        "calendar_url": reverse("admin:bookings_booking_calendar") + tenant_query,
        "bookings_url": reverse("admin:bookings_booking_changelist"),
        "held_url": reverse("admin:bookings_booking_changelist") + "?status__exact=held",
        "blackouts_url": reverse("admin:bookings_blackoutdate_changelist"),
        "payment_reviews_url": reverse("admin:bookings_paymentreview_changelist")
        + "?resolved_at__isempty=1",
        "disputes_url": reverse("admin:bookings_bookingdispute_changelist"),
        "balances": dashboard_balances(tenant=chosen.tenant, today=dashboard.today),
        "cancellation_requests": cancellation_requests_open(tenant=chosen.tenant),
        "cancellation_requests_url": reverse("admin:bookings_cancellationrequest_changelist")
        + "?resolved_at__isempty=1",
        # Platform ops only: a run may span every tenant.
        "reconcile": reconcile_last_run() if request.user.is_superuser else None,
        "reconcile_never": request.user.is_superuser,
    }


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    return {**context, "dash": dashboard_context(request)}
