"""The back office's one widening of the Content-Security-Policy.

django-unfold's interface runs on Alpine.js, whose x-* expressions
(x-data="{ open: false }", x-init="$watch(...)") are compiled with the
Function constructor: without 'unsafe-eval' nothing in the admin opens or
closes. Alpine's CSP build parses expressions itself but only simple ones
(no statements, arrow functions or globals such as localStorage), and
unfold's templates use all three in ~190 places, so the admin pages and the
staff's account pages (the same templates) get 'unsafe-eval' added to
script-src. 'unsafe-inline' stays refused everywhere (an injected <script>
or on*= attribute still cannot run; Django escapes every value it renders,
so no markup with x-* attributes can be injected either), and the couple's
pages and the API keep the strict policy.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

STAFF_PATH_PREFIXES = ("/accounts/",)


class AdminCspMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.prefixes: tuple[str, ...] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.prefixes is None:
            self.prefixes = (reverse("admin:index"), *STAFF_PATH_PREFIXES)
        if request.path.startswith(self.prefixes):
            update = dict(getattr(response, "_csp_update", None) or {})
            update["script-src"] = [*update.get("script-src", []), "'unsafe-eval'"]
            response._csp_update = update
        return response
