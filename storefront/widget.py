"""The embed script a tenant pastes on its own site:

    <script src="https://<platform>/book/widget.js" data-key="pk_…" async></script>

It adds a "Check dates & book" button that opens the booking page in an
overlay iframe (or, with data-mode="inline", renders the page in place).
The booking page itself decides who may frame it (CSP frame-ancestors from
the tenant's origins), so a copied snippet on another site shows nothing.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

SCRIPT = Path(__file__).resolve().parent / "static" / "storefront" / "widget.js"


@cache
def _script() -> bytes:
    return SCRIPT.read_bytes()


@require_GET
def widget_script(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(_script(), content_type="text/javascript; charset=utf-8")
    # A stable URL pasted into other sites: short caching keeps fixes flowing.
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    return response
