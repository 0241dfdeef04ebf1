"""The admin index as the staff's dashboard (settings.UNFOLD's
DASHBOARD_CALLBACK): unfold calls this with the index's context, at
request time, and templates/admin/index.html shows `dash`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from bookings.admin_views import dashboard_context


def dashboard_callback(request: HttpRequest, context: dict[str, Any]) -> dict[str, Any]:
    return {**context, "dash": dashboard_context(request)}
