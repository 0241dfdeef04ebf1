"""Validation rules for tenant settings, shared by models, services and commands."""

import re
import zoneinfo

from django.core.exceptions import ValidationError

from config.origins import is_origin

TENANT_SLUG_RE = re.compile(r"^[a-z][a-z0-9-]*[a-z0-9]$")
RESERVED_TENANT_SLUGS = frozenset(
    {
        "admin",
        "api",
        "app",
        "assets",
        "auth",
        "billing",
        "blog",
        "cdn",
        "dashboard",
        "docs",
        "help",
        "login",
        "logout",
        "mail",
        "media",
        "root",
        "static",
        "status",
        "stripe",
        "support",
        "system",
        "webhooks",
        "www",
    }
)
HEX_COLOR_RE = re.compile(r"#[0-9A-Fa-f]{6}")

# ISO 4217 codes Stripe can charge in (lower case, as Stripe and the API use them).
CURRENCIES = frozenset(
    """aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd
    bwp byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp
    gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk jmd jod jpy kes kgs khr kmf krw
    kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad
    ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek
    sgd shp sle sos srd std szl thb tjs tnd top try ttd twd tzs uah ugx usd uyu uzs vnd vuv
    wst xaf xcd xof xpf yer zar zmw""".split()
)
# Currencies without a minor unit still count in "cents" = whole units (Stripe's rule).
ZERO_DECIMAL_CURRENCIES = frozenset(
    "bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv xaf xof xpf".split()
)
# Stripe counts these in thousandths with the last digit 0, and ISK in
# hundredths that must end in 00 (https://docs.stripe.com/currencies, "Three-
# decimal currencies" and "Special cases"); Altar counts every currency in
# hundredths or whole units (minor_per_major), so it would charge these
# wrongly: a business cannot choose them.
UNHANDLED_CURRENCIES = frozenset("bhd jod kwd omr tnd isk".split())
# What a business may charge in: Stripe's currencies that Altar counts right.
TENANT_CURRENCIES = CURRENCIES - UNHANDLED_CURRENCIES

# Stripe's charge limits (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts):
# an amount above 99,999,999 minor units (8 digits) is refused in every
# currency, and an amount below the currency's minimum charge is refused too.
# The table lists the currencies whose minimum Stripe publishes; any other
# currency is held to the equivalent of USD 0.50 by Stripe at charge time, so
# Altar requires at least 50 minor units there (100 for zero-decimal ones would
# be a guess: 50 whole units is what JPY, the common one, needs).
STRIPE_MAX_AMOUNT = 99_999_999
STRIPE_MIN_CHARGE = {
    "usd": 50, "aed": 200, "aud": 50, "bgn": 100, "brl": 50, "cad": 50, "chf": 50,
    "czk": 1500, "dkk": 250, "eur": 50, "gbp": 30, "hkd": 400, "huf": 17500, "inr": 50,
    "jpy": 50, "mxn": 1000, "myr": 200, "nok": 300, "nzd": 50, "pln": 200, "ron": 200,
    "sek": 300, "sgd": 50, "thb": 1000,
}  # fmt: skip
DEFAULT_MIN_CHARGE = 50


def stripe_min_charge(currency: str) -> int:
    """The smallest amount, in minor units, Stripe charges in `currency`."""
    return STRIPE_MIN_CHARGE.get(currency, DEFAULT_MIN_CHARGE)


def minor_per_major(currency: str) -> int:
    """Minor units per major unit: 1 for zero-decimal currencies (JPY…), else 100."""
    return 1 if currency in ZERO_DECIMAL_CURRENCIES else 100


def validate_tenant_slug(value: str) -> None:
    if not 3 <= len(value) <= 50:
        raise ValidationError("Use 3 to 50 characters.", code="invalid_length")
    if not TENANT_SLUG_RE.match(value):
        raise ValidationError(
            "Use lower-case letters, digits and hyphens; start with a letter, "
            "end with a letter or digit.",
            code="invalid",
        )
    if value in RESERVED_TENANT_SLUGS:
        raise ValidationError("This slug is reserved.", code="reserved")


def validate_currency(value: str) -> None:
    if value not in TENANT_CURRENCIES:
        raise ValidationError(
            "Use a lower-case ISO 4217 currency code Altar supports, e.g. usd.",
            code="invalid_currency",
        )


def validate_timezone(value: str) -> None:
    if value not in zoneinfo.available_timezones():
        raise ValidationError(
            "Use an IANA time zone such as Europe/Paris.", code="invalid_timezone"
        )


def validate_hex_color(value: str) -> None:
    if not HEX_COLOR_RE.fullmatch(value):
        raise ValidationError("Use a colour of the form #RRGGBB.", code="invalid_color")


def validate_origin(value: str) -> None:
    """A browser origin: scheme and host (and port), no path, lower case."""
    if not is_origin(value):
        raise ValidationError(
            "Enter an origin like https://www.example.com (no path, no trailing slash).",
            code="invalid_origin",
        )
