"""Which language a couple-facing page speaks.

In order: an explicit choice (`?lang=es`, from the page's language links,
carried through the booking form), then the browser's Accept-Language, then
the tenant's default language. Only settings.LANGUAGES count. No cookie: the
pages set none (they are framed on other sites, where cookies are not sent
anyway).
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import trans_real

from tenants.models import Tenant

SUPPORTED = {code for code, _name in settings.LANGUAGES}


def _supported(code: str) -> str | None:
    code = (code or "").strip().lower()
    if code in SUPPORTED:
        return code
    base = code.split("-")[0]
    return base if base in SUPPORTED else None


def page_language(request: HttpRequest, tenant: Tenant | None) -> str:
    chosen = _supported(request.GET.get("lang", "") or request.POST.get("lang", ""))
    if chosen:
        return chosen
    header = request.headers.get("Accept-Language", "")
    for code, _quality in trans_real.parse_accept_lang_header(header):
        if code == "*":
            break
        found = _supported(code)
        if found:
            return found
    fallback = tenant.default_language if tenant is not None else ""
    return _supported(fallback) or settings.LANGUAGE_CODE
