"""Enters the tenant scope for admin requests, from the signed-in user.

Superusers (platform operators) see every tenant; a staff member sees the
tenant chosen in their session among their memberships (the first one by
default), with times shown in that tenant's time zone; anyone else gets a
scope that matches nothing.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone

from tenants.audit import actor_context, current_request_id
from tenants.scoping import no_tenant_scope, scopes_disabled, tenant_scope
from tenants.selectors import memberships_for_user

ACTIVE_TENANT_SESSION_KEY = "altar_active_tenant_id"


class AdminTenantScopeMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.admin_prefix = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.admin_prefix is None:
            self.admin_prefix = reverse("admin:index")
        request.tenant = None
        request.membership = None
        if not request.path.startswith(self.admin_prefix):
            return self.get_response(request)
        user = request.user
        if user.is_authenticated:
            # Changes made through the admin are the signed-in user's.
            with actor_context(
                "staff", user.get_username(), user=user, request_id=current_request_id()
            ):
                return self._scoped(request, user)
        return self._scoped(request, user)

    def _scoped(self, request: HttpRequest, user) -> HttpResponse:
        if user.is_authenticated and user.is_active and user.is_superuser:
            with scopes_disabled():
                return self.get_response(request)
        if user.is_authenticated and user.is_active and user.is_staff:
            memberships = memberships_for_user(user=user)
            if memberships:
                wanted = request.session.get(ACTIVE_TENANT_SESSION_KEY)
                membership = next((m for m in memberships if m.tenant_id == wanted), memberships[0])
                request.tenant = membership.tenant
                request.membership = membership
                request.memberships = memberships
                # Every date and time the admin renders is in the business's
                # own time zone (a Denver owner never reads UTC).
                with tenant_scope(membership.tenant), timezone.override(membership.tenant.timezone):
                    return self.get_response(request)
        with no_tenant_scope():
            return self.get_response(request)
