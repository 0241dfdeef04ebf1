"""Limits on unpaid holds, so nobody can hold a tenant's calendar without
paying (issue 10 item 4).

A hold is *active* while it is `held` and has not lapsed. Each new hold is
refused with HoldLimitReached (429 `hold_limit_reached`, `Retry-After`) when
the tenant already has, among its active holds:
- `per_email` or more for the same normalised e-mail (`email_key`),
- `per_address` or more from the same client address (`address_key`),
- `per_tenant` or more in all.
Limits come from the tenant (owners set them in the admin) or, when the
tenant leaves a field empty, from the platform settings HOLD_LIMIT_PER_*;
0 in a setting means "no limit" (benchmarks).

Race safety: `hold_limits_check` takes a transaction-scoped advisory lock per
tenant before it counts, and booking_hold inserts the hold in the same
transaction, so holds of one tenant are counted and inserted one at a time:
the next counter waits until the previous hold has committed (or rolled
back) and then sees it. One lock per tenant, not one per e-mail and one per
address: the per-tenant limit needs every hold of the tenant serialised
anyway, and a single lock cannot deadlock against itself. The lock is held
only for the rest of booking_hold (a few queries, no network I/O), so the
cost is holds of one tenant being inserted one after another.

What is stored: a keyed hash (HMAC with SECRET_KEY) of the normalised
e-mail and of the client address on the booking, never the address itself.
Rotating SECRET_KEY makes the holds made before the rotation uncounted
until they lapse (at most the tenant's hold minutes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass

from django.conf import settings
from django.db import connection
from django.db.models import Count, Min, Q
from django.utils.crypto import salted_hmac

from bookings.errors import HoldLimitReached
from bookings.models import Booking
from tenants.models import Tenant

# Domains whose mailboxes ignore dots in the local part (Gmail).
DOTLESS_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
CANONICAL_DOMAIN = {"googlemail.com": "gmail.com"}


def normalise_email(email: str) -> str:
    """The mailbox an address delivers to, as far as limits are concerned:
    lower-cased and stripped; the `+tag` of plus-addressing removed for
    every domain (Gmail, Outlook, iCloud, Fastmail, Proton and most hosts
    deliver `name+tag@` to `name@`, so tags would otherwise mint unlimited
    identities); for Gmail also the dots, and googlemail.com is gmail.com.
    Used only to count holds, never to send mail: merging two real people
    whose addresses differ only by a `+tag` at a host without subaddressing
    costs them at most a shared limit."""
    local, at, domain = email.strip().lower().rpartition("@")
    if not at:
        return email.strip().lower()
    local = local.split("+", 1)[0]
    if domain in DOTLESS_DOMAINS:
        local = local.replace(".", "")
    return f"{local}@{CANONICAL_DOMAIN.get(domain, domain)}"


def _key(kind: str, value: str) -> str:
    return salted_hmac(f"altar.hold_limits.{kind}", value, algorithm="sha256").hexdigest()


def email_key(email: str) -> str:
    return _key("email", normalise_email(email))


def address_key(client_address: str) -> str:
    """`client_address` as the API's throttles count it
    (tenants.api.throttling.client_ident: IPv6 per /64); empty when the hold
    did not come through the API, and then it counts for no address."""
    return _key("address", client_address) if client_address else ""


@dataclass(frozen=True)
class HoldLimits:
    per_email: int  # 0: no limit
    per_address: int
    per_tenant: int


def hold_limits_for(tenant: Tenant) -> HoldLimits:
    """The tenant's own limits where set, else the platform's."""

    def pick(own: int | None, default: int) -> int:
        return default if own is None else own

    return HoldLimits(
        per_email=pick(tenant.hold_limit_per_email, settings.HOLD_LIMIT_PER_EMAIL),
        per_address=pick(tenant.hold_limit_per_address, settings.HOLD_LIMIT_PER_ADDRESS),
        per_tenant=pick(tenant.hold_limit_per_tenant, settings.HOLD_LIMIT_PER_TENANT),
    )


@dataclass(frozen=True)
class HoldKeys:
    """What booking_hold stores on the new hold, so later holds count it."""

    email: str
    address: str


def _lock_tenant_holds(tenant: Tenant) -> None:
    if not connection.in_atomic_block:
        raise RuntimeError("hold_limits_check must run inside the hold's transaction")
    # A 64-bit key derived from a namespaced name: another feature's advisory
    # locks cannot collide with it by accident (a collision would only make
    # two tenants wait for each other, never count wrongly).
    digest = hashlib.sha256(f"altar.hold_limits.tenant:{tenant.pk}".encode()).digest()
    key = int.from_bytes(digest[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])


def hold_limits_check(
    *, tenant: Tenant, email: str, client_address: str, now: dt.datetime
) -> HoldKeys:
    """Raise HoldLimitReached if one more hold would pass a limit; else the
    keys to store on the hold. Precondition: inside the transaction that
    inserts the hold (the lock is released at its commit or rollback)."""
    keys = HoldKeys(email=email_key(email), address=address_key(client_address))
    limits = hold_limits_for(tenant)
    if not (limits.per_email or limits.per_address or limits.per_tenant):
        return keys
    _lock_tenant_holds(tenant)
    active = Booking.objects.filter(
        tenant=tenant, status=Booking.Status.HELD, hold_expires_at__gt=now
    )
    email_q = Q(hold_email_key=keys.email)
    address_q = Q(hold_client_key=keys.address) if keys.address else Q(pk__in=[])
    # One query: each count with the earliest lapse among the holds it counts.
    found = active.aggregate(
        tenant_count=Count("pk"),
        tenant_first=Min("hold_expires_at"),
        email_count=Count("pk", filter=email_q),
        email_first=Min("hold_expires_at", filter=email_q),
        address_count=Count("pk", filter=address_q),
        address_first=Min("hold_expires_at", filter=address_q),
    )
    blocking = [
        (name, found[f"{name}_first"])
        for name, limit in (
            ("email", limits.per_email),
            ("address", limits.per_address),
            ("tenant", limits.per_tenant),
        )
        if limit and found[f"{name}_count"] >= limit
    ]
    if blocking:
        # A slot frees when the earliest of the counted holds lapses; with
        # several limits reached, only once each of them has freed one.
        free_at = max(first for _name, first in blocking)
        retry_after = max(1, math.ceil((free_at - now).total_seconds()))
        raise HoldLimitReached(blocking[0][0], retry_after=retry_after)
    return keys


def hold_reusable(
    *,
    tenant: Tenant,
    email: str,
    couple_name: str,
    event_date: dt.date,
    package_slug: str,
    add_on_slugs: list[str],
    now: dt.datetime,
    session_grace: dt.timedelta = dt.timedelta(0),
) -> Booking | None:
    """The couple's own active hold of this date, to answer a retried
    checkout with instead of a new hold (or a refusal): same normalised
    e-mail, same date, same package and add-ons (a different choice is a
    different price: not this hold), its Checkout Session opened, and at
    least HOLD_REUSE_MIN_REMAINING_SECONDS left to pay in before the
    session ends (`session_grace` before the hold does). A hold with less
    time left is not reused (the couple would be sent to a page about to
    expire).

    The hold is handed back only to the same couple: the e-mail exactly as
    they typed it (case aside) and the same names. The normalised e-mail
    alone (which the limits count by) would hand a couple's booking, names
    and Checkout link to anyone who knows their address and date."""
    booking = (
        Booking.objects.filter(
            tenant=tenant,
            event_date=event_date,
            status=Booking.Status.HELD,
            hold_email_key=email_key(email),
            # The Checkout Session ends `session_grace` before the hold.
            hold_expires_at__gte=now
            + session_grace
            + dt.timedelta(seconds=settings.HOLD_REUSE_MIN_REMAINING_SECONDS),
            package__slug=package_slug,
        )
        .exclude(checkout_url="")
        .select_related("package")
        .prefetch_related("add_on_lines")
        .first()
    )
    if booking is None:
        return None
    if sorted(line.slug for line in booking.add_on_lines.all()) != sorted(add_on_slugs):
        return None
    same_couple = booking.email.strip().casefold() == email.strip().casefold() and _name_key(
        booking.couple_name
    ) == _name_key(couple_name)
    return booking if same_couple else None


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()
