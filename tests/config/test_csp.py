"""The Content-Security-Policy (issue 10, item 8): on every response, the
nonce only where a page used one, and the framing helper (config/csp.py)
that the storefront's embeddable page uses."""

from __future__ import annotations

import re

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from config.csp import allow_framing, framable_by
from tests.factories import BookingFactory

pytestmark = pytest.mark.django_db

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


def directives(policy: str) -> dict[str, str]:
    return dict(part.strip().split(" ", 1) for part in policy.split(";"))


def through_middleware(view, request):
    """The response as the client sees it: CSP and X-Frame-Options middleware
    applied, in settings order."""
    from csp.middleware import CSPMiddleware
    from django.middleware.clickjacking import XFrameOptionsMiddleware

    handler = CSPMiddleware(XFrameOptionsMiddleware(view))
    return handler(request)


@pytest.mark.parametrize(
    "path",
    ["/admin/login/", "/api/v1/tenant", "/readyz", "/no-such-page/", "/accounts/password_reset/"],
)
def test_every_response_carries_the_policy(client, path):
    response = client.get(path)

    assert directives(response["Content-Security-Policy"]) == directives(POLICY)
    assert response["X-Frame-Options"] == "DENY"


def test_status_page_carries_the_policy(client, tenant, unscoped):
    booking = BookingFactory(tenant=tenant)

    response = client.get(f"/bookings/{booking.pk}/")

    assert response.status_code == 200
    # The couple's pages also let their forms lead to Stripe Checkout (the
    # no-JavaScript booking form is redirected there): the stand-in here.
    assert directives(response["Content-Security-Policy"]) == {
        **directives(POLICY),
        "form-action": "'self' http://127.0.0.1:9",
    }
    # Branding comes from a stylesheet, never an inline <style> or style="".
    assert b"<style" not in response.content and b"style=" not in response.content


def test_docs_page_nonce_matches_its_inline_style(client):
    response = client.get("/api/docs/")

    policy = directives(response["Content-Security-Policy"])
    nonce = re.search(r"'nonce-([^']+)'", policy["style-src"]).group(1)
    assert policy["script-src"] == f"'self' 'nonce-{nonce}'"
    assert f'<style nonce="{nonce}">'.encode() in response.content
    # The initializer is a script file, not inline; Swagger UI from our static files.
    assert b'<script src="/api/docs/?script="></script>' in response.content
    assert b'src="/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js"' in (
        response.content
    )
    assert b"cdn." not in response.content


def test_docs_initializer_is_served_as_javascript(client):
    response = client.get("/api/docs/?script=")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/javascript"
    assert b"SwaggerUIBundle(" in response.content


def test_nonces_differ_per_request(client):
    first, second = client.get("/api/docs/"), client.get("/api/docs/")

    assert first["Content-Security-Policy"] != second["Content-Security-Policy"]


def test_allow_framing_names_the_origins_and_drops_x_frame_options():
    request = RequestFactory().get("/embed/")

    response = through_middleware(
        lambda request: allow_framing(
            HttpResponse("widget"), ["https://juniper.example", "http://localhost:8080"]
        ),
        request,
    )

    policy = directives(response["Content-Security-Policy"])
    assert policy["frame-ancestors"] == "https://juniper.example http://localhost:8080"
    assert policy["script-src"] == "'self'"
    assert "X-Frame-Options" not in response


def test_allow_framing_with_no_origins_keeps_framing_refused():
    response = through_middleware(
        lambda request: allow_framing(HttpResponse("widget"), []), RequestFactory().get("/")
    )

    assert directives(response["Content-Security-Policy"])["frame-ancestors"] == "'none'"
    assert response["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "origin",
    [
        "https://juniper.example; script-src *",
        "https://juniper.example/path",
        "*",
        "'self'",
        "https://juniper.example\r\nSet-Cookie: a=b",
    ],
)
def test_allow_framing_refuses_anything_but_an_origin(origin):
    with pytest.raises(ValueError):
        allow_framing(HttpResponse(), ["https://ok.example", origin])


def test_allow_framing_keeps_other_per_view_replacements():
    response = HttpResponse()
    response._csp_replace = {"img-src": ["'self'", "https://photos.example"]}

    response = through_middleware(
        lambda request: allow_framing(response, ["https://juniper.example"]),
        RequestFactory().get("/"),
    )

    policy = directives(response["Content-Security-Policy"])
    assert policy["img-src"] == "'self' https://photos.example"
    assert policy["frame-ancestors"] == "https://juniper.example"


def test_framable_by_decorator_asks_per_request():
    @framable_by(lambda request, slug: [f"https://{slug}.example"])
    def widget(request, slug):
        return HttpResponse(slug)

    response = through_middleware(
        lambda request: widget(request, slug="juniper"), RequestFactory().get("/")
    )

    assert directives(response["Content-Security-Policy"])["frame-ancestors"] == (
        "https://juniper.example"
    )
    assert response.content == b"juniper"
