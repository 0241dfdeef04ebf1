"""The Content-Security-Policy every response carries, and the one way a
view widens who may frame it.

django-csp's CSPMiddleware writes the header from
settings.CONTENT_SECURITY_POLICY (see there: scripts and styles only from
this origin or with the request's nonce, never 'unsafe-inline'; framing
refused with frame-ancestors 'none', plus X-Frame-Options: DENY for old
browsers).

A page meant to be embedded in a tenant's website (the storefront's booking
widget) lets exactly that tenant's origins frame it, per request:

    from config.csp import allow_framing

    def booking_widget(request, slug):
        tenant = ...
        response = render(request, "storefront/widget.html", {...})
        return allow_framing(response, tenant.cors_origins)

or, when the origins come from the request alone, as a decorator:

    @framable_by(lambda request, slug: tenant_origins(slug))
    def booking_widget(request, slug): ...

An empty list keeps frame-ancestors 'none'. Anything that is not a plain
origin (scheme://host[:port]) is refused with ValueError: the values go
into a response header, so a stray ';' would otherwise add a directive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from csp.constants import NONE
from django.http import HttpRequest, HttpResponseBase

from config.origins import is_origin

__all__ = ["allow_framing", "framable_by"]


def allow_framing(response: HttpResponseBase, origins: Iterable[str]) -> HttpResponseBase:
    """Let `origins` frame this response (in place; returns it for chaining)."""
    allowed = list(dict.fromkeys(origins))
    refused = [origin for origin in allowed if not is_origin(origin)]
    if refused:
        raise ValueError(f"not origins: {refused!r}")
    # django-csp reads per-response overrides from _csp_replace (what its own
    # @csp_replace decorator sets); merge, so another override survives.
    replace = dict(getattr(response, "_csp_replace", None) or {})
    replace["frame-ancestors"] = allowed or [NONE]
    response._csp_replace = replace
    # X-Frame-Options has no allow-list: browsers that know frame-ancestors
    # ignore it when CSP is present, but drop it so none of them says DENY.
    response.xframe_options_exempt = bool(allowed)
    return response


def framable_by(
    origins_for: Callable[..., Iterable[str]],
) -> Callable[[Callable[..., HttpResponseBase]], Callable[..., HttpResponseBase]]:
    """View decorator: `origins_for(request, *args, **kwargs)` names the
    origins allowed to frame the view's response."""

    def decorator(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            response = view(request, *args, **kwargs)
            return allow_framing(response, origins_for(request, *args, **kwargs))

        return wrapped

    return decorator
