"""Where production may send Stripe calls: Stripe's own API, nowhere else.
Pure, so settings can apply it at import (every process: gunicorn, workers,
manage.py) before Django is set up."""

from urllib.parse import urlsplit

STRIPE_HOST = "api.stripe.com"


def stripe_api_base_refusal(base: str) -> str | None:
    """Why `base` is not Stripe's API (https, host api.stripe.com, no port,
    path or credentials), or None when it is."""
    parts = urlsplit(base)
    if (
        parts.scheme == "https"
        and parts.hostname == STRIPE_HOST
        and parts.port is None
        and not parts.username
        and parts.path in ("", "/")
        and not parts.query
    ):
        return None
    return (
        f"STRIPE_API_BASE is {base!r}; with DJANGO_DEBUG off it must be "
        f"https://{STRIPE_HOST} (unset it; local runs with the stand-in set DJANGO_DEBUG=true)."
    )
