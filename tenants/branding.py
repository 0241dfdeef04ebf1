"""A tenant's branding on pages we serve (the booking status page, the
storefront): one stylesheet per tenant, served by a view, that sets CSS
custom properties from validated settings only.

Why a stylesheet and not an inline <style>: the CSP (config/settings.py)
allows styles from this origin or with the request's nonce only. A
stylesheet URL also caches: it carries the tenant's catalog_version, which
every branding write bumps (tenants.services.tenant_update).

Use it from a template:

    {% load branding %}
    <link rel="stylesheet" href="{% static 'myapp/page.css' %}">
    {% branding_stylesheet tenant %}

and in page.css: `color: var(--brand-primary)`, `background:
var(--brand-secondary)`, `font-family: var(--brand-font)`.

Fonts are a fixed list of stacks of fonts already installed on phones and
computers (no web-font download, so no third-party request and nothing for
the CSP to allow); the stored value is the CSS font-family value itself, so
`GET /api/v1/tenant` keeps returning a usable font-family string.
"""

from __future__ import annotations

from typing import Protocol

from django.db import models
from django.urls import reverse

from tenants.validators import HEX_COLOR_RE


class Branded(Protocol):
    """What the helpers read from a Tenant (tenants.models imports this
    module for the choices, so it does not import the model back)."""

    slug: str
    primary_color: str
    secondary_color: str
    font_family: str
    catalog_version: int


class FontStack(models.TextChoices):
    # Values are written the way browsers serialise font-family (names with
    # spaces in double quotes), so the computed style equals the setting.
    SYSTEM_SANS = "system-ui, sans-serif", "System sans-serif (the device's own interface font)"
    NEO_GROTESQUE = (
        'Inter, Roboto, "Helvetica Neue", "Arial Nova", "Nimbus Sans", Arial, sans-serif',
        "Neo-grotesque sans-serif (Helvetica, Arial)",
    )
    HUMANIST = (
        'Seravek, "Gill Sans Nova", Ubuntu, Calibri, "DejaVu Sans", sans-serif',
        "Humanist sans-serif (Gill Sans, Calibri)",
    )
    GEOMETRIC = (
        'Avenir, Montserrat, Corbel, "URW Gothic", sans-serif',
        "Geometric sans-serif (Avenir, Futura-like)",
    )
    GEORGIA = "Georgia, serif", "Georgia"
    TRANSITIONAL = (
        'Charter, "Bitstream Charter", "Sitka Text", Cambria, serif',
        "Transitional serif (Charter, Cambria)",
    )
    OLD_STYLE = (
        '"Iowan Old Style", "Palatino Linotype", "URW Palladio L", P052, serif',
        "Old-style serif (Palatino, Garamond-like)",
    )
    DIDONE = (
        'Didot, "Bodoni MT", "Noto Serif Display", "URW Palladio L", P052, Sylfaen, serif',
        "Didone display serif (Didot, Bodoni; Playfair-like)",
    )
    HANDWRITTEN = (
        '"Segoe Print", "Bradley Hand", Chilanka, TSCu_Comic, cursive',
        "Handwritten",
    )


DEFAULT_FONT_STACK = FontStack.GEORGIA.value
DEFAULT_PRIMARY_COLOR = "#7A4E6D"
DEFAULT_SECONDARY_COLOR = "#F4EDE4"


def _color(value: str, default: str) -> str:
    # The model and the database (a check constraint) already refuse
    # anything else; this keeps an unsaved or hand-built Tenant from writing
    # arbitrary text into CSS.
    return value if HEX_COLOR_RE.fullmatch(value) else default


def branding_css(tenant: Branded) -> str:
    """The tenant's stylesheet: custom properties on :root, nothing else."""
    font = tenant.font_family if tenant.font_family in FontStack.values else DEFAULT_FONT_STACK
    return (
        ":root {\n"
        f"  --brand-primary: {_color(tenant.primary_color, DEFAULT_PRIMARY_COLOR)};\n"
        f"  --brand-secondary: {_color(tenant.secondary_color, DEFAULT_SECONDARY_COLOR)};\n"
        f"  --brand-font: {font};\n"
        "}\n"
    )


def branding_stylesheet_url(tenant: Branded) -> str:
    """Path of the tenant's stylesheet; the version makes it cacheable for good."""
    path = reverse("tenant-branding-css", kwargs={"slug": tenant.slug})
    return f"{path}?v={tenant.catalog_version}"
