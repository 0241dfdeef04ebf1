"""`{% booking_dashboard as dash %}` for templates/admin/index.html: the
admin index is AdminSite.index, which takes no extra context from an app
without replacing the site, so the index template asks for the dashboard."""

from __future__ import annotations

from typing import Any

from django import template

from bookings.admin_views import dashboard_context

register = template.Library()


@register.simple_tag(takes_context=True)
def booking_dashboard(context: template.Context) -> dict[str, Any] | None:
    request = context.get("request")
    return dashboard_context(request) if request is not None else None
