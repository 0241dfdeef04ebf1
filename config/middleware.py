"""Middleware that the machine-facing paths skip.

The couples' API (/api/v1/) and Stripe's webhook (/stripe/webhook/) carry
no cookies and no signed-in user: sessions, authentication, messages,
the admin's tenant scope and django-axes have nothing to do there, yet each
costs every request a little (sessions and auth also add `Vary: Cookie`).
Each such middleware is listed in settings.MIDDLEWARE wrapped as
`config.middleware.<Name>`: outside those paths it runs exactly as before;
on them the request goes straight past it. The security headers, CSP,
CORS and the request id still run on every path.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

# Prefixes of request.path_info. Not /api/schema/ or /api/docs/: those are
# browser pages served by DRF views that may read the session's user.
MACHINE_PATHS = ("/api/v1/", "/api/_bench/", "/stripe/webhook/")


def is_machine_path(request: HttpRequest) -> bool:
    return request.path_info.startswith(MACHINE_PATHS)


def outside_machine_paths(dotted_path: str) -> type:
    """A subclass of `dotted_path`'s middleware (system checks look for
    subclasses) that runs it, view hooks included, except on MACHINE_PATHS."""
    base = import_string(dotted_path)
    namespace: dict = {"__call__": _call, "__module__": __name__}
    for hook in ("process_view", "process_exception", "process_template_response"):
        if hasattr(base, hook):
            namespace[hook] = _skipping(hook)
    return type(base.__name__, (base,), namespace)


def _call(self, request: HttpRequest) -> HttpResponse:
    if is_machine_path(request):
        return self.get_response(request)
    return super(type(self), self).__call__(request)


def _skipping(hook: str) -> Callable:
    def run(self, request: HttpRequest, *args):
        if is_machine_path(request):
            return None
        return getattr(super(type(self), self), hook)(request, *args)

    run.__name__ = hook
    return run


SessionMiddleware = outside_machine_paths("django.contrib.sessions.middleware.SessionMiddleware")
AuthenticationMiddleware = outside_machine_paths(
    "django.contrib.auth.middleware.AuthenticationMiddleware"
)
MessageMiddleware = outside_machine_paths("django.contrib.messages.middleware.MessageMiddleware")
AdminTenantScopeMiddleware = outside_machine_paths("tenants.middleware.AdminTenantScopeMiddleware")
WhiteNoiseMiddleware = outside_machine_paths("whitenoise.middleware.WhiteNoiseMiddleware")


access_logger = logging.getLogger("altar.access")


class AccessLogMiddleware:
    """One line per request, the only one a request logs in production unless
    something fails: method, path (no query string: it may carry dates or
    tokens), status, milliseconds, and (through the log filter) the request
    id. Replaces the web server's access log, which could not carry the id
    as a field of the same JSON line, and the per-request INFO lines of
    libraries (silenced in settings.LOGGING)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        ms = round((time.perf_counter() - started) * 1000, 1)
        access_logger.info(
            "%s %s %s %sms",
            request.method,
            request.path,
            response.status_code,
            ms,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "ms": ms,
            },
        )
        return response
