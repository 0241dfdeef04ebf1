"""Fail-closed tenancy (django-scopes).

Tenant-owned models use `ScopedManager(tenant="tenant")`: a query through
their default manager raises ScopeError unless a scope is active. Scopes are
entered in four places only: the public API (tenants.api.auth), the admin
(tenants.middleware), the command base (tenants.commands) and the webhook
receiver (webhooks). Everything else inherits the scope of its caller.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django_scopes import scope, scopes_disabled

from tenants.models import Tenant

__all__ = ["no_tenant_scope", "scopes_disabled", "tenant_scope"]


@contextmanager
def tenant_scope(tenant: Tenant) -> Iterator[None]:
    """Queries inside see only `tenant`'s rows."""
    if tenant is None or tenant.pk is None:  # scope(tenant=None) would mean "everyone"
        raise ValueError("tenant_scope needs a saved tenant")
    with scope(tenant=tenant.pk):
        yield


@contextmanager
def no_tenant_scope() -> Iterator[None]:
    """A scope that matches no tenant: scoped queries return nothing."""
    with scope(tenant=[]):
        yield
