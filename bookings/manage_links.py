"""The couple's "manage my booking" link: a signed, expiring, single-purpose
token naming one booking.

It lives here, not in storefront/, because the couple's e-mails
(bookings.notifications) carry it and a lower floor never imports a higher
one; storefront/ serves the page it opens. The salt makes the token useless
for anything else signed with the same SECRET_KEY, and the booking id inside
is checked against the URL's, so one booking's link never opens another.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.core import signing

SALT = "altar.bookings.manage-link.v1"


class ManageLinkInvalid(Exception):
    """Forged, expired, or for another booking."""


def manage_token(booking_id: uuid.UUID | str) -> str:
    return signing.dumps({"b": str(booking_id)}, salt=SALT, compress=False)


def manage_path(booking_id: uuid.UUID | str) -> str:
    return f"/bookings/{booking_id}/manage/{manage_token(booking_id)}/"


def manage_url(booking_id: uuid.UUID | str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + manage_path(booking_id)


def manage_link_max_age() -> dt.timedelta:
    return dt.timedelta(days=settings.MANAGE_LINK_MAX_AGE_DAYS)


def manage_token_check(token: str, *, booking_id: uuid.UUID) -> None:
    """Raise ManageLinkInvalid unless `token` is a live link to `booking_id`."""
    try:
        data = signing.loads(token, salt=SALT, max_age=manage_link_max_age())
    except signing.BadSignature as exc:  # SignatureExpired is a subclass
        raise ManageLinkInvalid() from exc
    if not isinstance(data, dict) or data.get("b") != str(booking_id):
        raise ManageLinkInvalid()
