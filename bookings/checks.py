"""System checks for payments configuration."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, register

STRIPE_HOST = "api.stripe.com"


@register("altar")
def stripe_api_base_check(app_configs, **kwargs):
    """Production talks to Stripe itself: a stand-in or typo'd
    STRIPE_API_BASE would take real bookings without real payments."""
    if settings.DEBUG:
        return []
    parts = urlsplit(settings.STRIPE_API_BASE)
    if parts.scheme == "https" and parts.hostname == STRIPE_HOST:
        return []
    return [
        Error(
            f"STRIPE_API_BASE is {settings.STRIPE_API_BASE!r}; in production (DJANGO_DEBUG off) "
            f"it must be https://{STRIPE_HOST}.",
            hint="Unset STRIPE_API_BASE; local runs with the stand-in set DJANGO_DEBUG=true.",
            id="altar.E001",
        )
    ]
