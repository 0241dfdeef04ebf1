"""Bring every tenant's branding to what 0005's check constraints allow:
colours #RRGGBB (#RGB expanded, anything else the default) and font_family
one of the supported stacks, chosen from the families the old free text
named. Changed tenants get their catalog_version bumped, so cached catalog
and tenant responses pick up the new values.

The stacks and the mapping are frozen here (not imported), as a migration
must keep meaning what it meant when it ran.
"""

import html
import re

from django.db import migrations
from django.db.models import F

HEX6 = re.compile(r"#[0-9A-Fa-f]{6}")
HEX3 = re.compile(r"#[0-9A-Fa-f]{3}")

SYSTEM_SANS = "system-ui, sans-serif"
NEO_GROTESQUE = 'Inter, Roboto, "Helvetica Neue", "Arial Nova", "Nimbus Sans", Arial, sans-serif'
HUMANIST = 'Seravek, "Gill Sans Nova", Ubuntu, Calibri, "DejaVu Sans", sans-serif'
GEOMETRIC = 'Avenir, Montserrat, Corbel, "URW Gothic", sans-serif'
GEORGIA = "Georgia, serif"
TRANSITIONAL = 'Charter, "Bitstream Charter", "Sitka Text", Cambria, serif'
OLD_STYLE = '"Iowan Old Style", "Palatino Linotype", "URW Palladio L", P052, serif'
DIDONE = 'Didot, "Bodoni MT", "Noto Serif Display", "URW Palladio L", P052, Sylfaen, serif'
HANDWRITTEN = '"Segoe Print", "Bradley Hand", Chilanka, TSCu_Comic, cursive'
STACKS = {
    SYSTEM_SANS,
    NEO_GROTESQUE,
    HUMANIST,
    GEOMETRIC,
    GEORGIA,
    TRANSITIONAL,
    OLD_STYLE,
    DIDONE,
    HANDWRITTEN,
}
# First match wins; checked against the whole old value, lower-cased.
KEYWORDS = [
    (("playfair", "didot", "bodoni", "abril", "display"), DIDONE),
    (("garamond", "cormorant", "palatino", "baskerville", "caslon", "iowan", "old style"), OLD_STYLE),
    (("georgia",), GEORGIA),
    (("cursive", "handwrit", "bradley hand", "dancing", "vibes"), HANDWRITTEN),
    (("gill", "calibri", "ubuntu", "lato", "open sans", "source sans", "seravek"), HUMANIST),
    (("avenir", "futura", "montserrat", "poppins", "raleway", "century gothic"), GEOMETRIC),
    (("helvetica", "arial", "inter", "roboto"), NEO_GROTESQUE),
    (("sans-serif", "sans serif", "system-ui"), SYSTEM_SANS),
    (("charter", "cambria", "lora", "merriweather", "times", "serif"), TRANSITIONAL),
]


def font_stack_for(value):
    if value in STACKS:
        return value
    value = html.unescape(value)  # a value pasted from escaped page source
    if any(char in value for char in "<>;{}"):
        return GEORGIA  # markup or CSS, not a font name: nothing to keep
    lowered = value.lower()
    for words, stack in KEYWORDS:
        if any(word in lowered for word in words):
            return stack
    return GEORGIA


def color_for(value, default):
    if HEX6.fullmatch(value):
        return value
    if HEX3.fullmatch(value):
        return "#" + "".join(digit * 2 for digit in value[1:]).upper()
    return default


def fix_branding(apps, schema_editor):
    Tenant = apps.get_model("tenants", "Tenant")
    for tenant in Tenant.objects.order_by("pk").iterator():
        fixed = {
            "font_family": font_stack_for(tenant.font_family),
            "primary_color": color_for(tenant.primary_color, "#7A4E6D"),
            "secondary_color": color_for(tenant.secondary_color, "#F4EDE4"),
        }
        if any(getattr(tenant, name) != value for name, value in fixed.items()):
            Tenant.objects.filter(pk=tenant.pk).update(
                **fixed, catalog_version=F("catalog_version") + 1
            )


class Migration(migrations.Migration):
    dependencies = [("tenants", "0004_membership_invitations")]

    # Reversing leaves the fixed values: the old ones were the bug.
    operations = [migrations.RunPython(fix_branding, migrations.RunPython.noop)]
