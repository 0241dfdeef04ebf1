"""A tenant's branding as the couple-facing pages may use it: the one place
that turns stored branding into the booking page's CSS variables, on top of
tenants.branding's validation (colours #RRGGBB, fonts from FontStack).

Only #RRGGBB colours and font stacks from the fixed list reach CSS; anything
else falls back to the platform's defaults, so stored text can never close a
declaration or inject a rule. Text on the primary colour is black or white,
whichever reads better (WCAG contrast), so a pale brand colour still passes
the accessibility check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tenants.branding import FontStack
from tenants.models import Tenant

HEX_COLOR = re.compile(r"^#[0-9A-Fa-f]{6}$")
DEFAULT_PRIMARY = "#7A4E6D"
DEFAULT_SECONDARY = "#F4EDE4"
# The tenant's font is one of tenants.branding.FontStack (validated on save
# and by a database constraint); its value is the CSS font-family itself.
DEFAULT_FONT = FontStack.GEORGIA.value


@dataclass(frozen=True)
class Theme:
    primary: str
    on_primary: str
    secondary: str
    on_secondary: str
    font: str

    def css(self) -> str:
        return (
            ":root{"
            f"--brand:{self.primary};--on-brand:{self.on_primary};"
            f"--brand-soft:{self.secondary};--on-brand-soft:{self.on_secondary};"
            f"--font:{self.font};"
            "}\n"
        )


def _color(value: str, default: str) -> str:
    return value.upper() if HEX_COLOR.fullmatch(value or "") else default


def _luminance(color: str) -> float:
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def readable_text_on(color: str) -> str:
    """#000000 or #FFFFFF, whichever contrasts more with `color`."""
    lum = _luminance(color)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#FFFFFF"


def tenant_theme(tenant: Tenant) -> Theme:
    primary = _color(tenant.primary_color, DEFAULT_PRIMARY)
    secondary = _color(tenant.secondary_color, DEFAULT_SECONDARY)
    return Theme(
        primary=primary,
        on_primary=readable_text_on(primary),
        secondary=secondary,
        on_secondary=readable_text_on(secondary),
        font=tenant.font_family if tenant.font_family in FontStack.values else DEFAULT_FONT,
    )
