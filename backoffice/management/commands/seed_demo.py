"""`manage.py seed_demo`: a demo wedding business to click through locally.

Idempotent: a second run finds everything in place and changes nothing (no
new rows, no catalog_version bump, the same keys and logins).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.urls import reverse

from backoffice.catalog_file import catalog_import
from bookings.selectors import blackout_date_list, tenant_today
from tenants.branding import FontStack
from tenants.commands import AltarCommand
from tenants.errors import TenantNotFound
from tenants.keys import hash_key
from tenants.models import ApiKey, Tenant, TenantMembership
from tenants.scoping import tenant_scope
from tenants.selectors import api_key_list, tenant_get
from tenants.services import (
    api_key_issue,
    api_key_revoke,
    staff_link,
    tenant_create,
    tenant_update,
)

DEMO_SLUG = "juniper-elopements"
# Fixed, so the README can show it. `pk_live_` + 40 base62 characters
# (tenants.keys). Publishable keys are public by design; this one only ever
# names the demo tenant.
DEMO_PUBLISHABLE_KEY = "pk_live_JuniperElopementsDemoKey2026202620262026"
# Demo only: printed on every run, never use it anywhere real.
DEMO_PASSWORD = "altar-demo-2026"
DEMO_STAFF_EMAIL = "demo@altar.localhost"
DEMO_SUPERUSER_EMAIL = "ops@altar.localhost"

DEMO_TENANT = {
    "name": "Juniper Elopements",
    "currency": "usd",
    "timezone": "America/Denver",
    "hold_minutes": 30,
    "min_notice_days": 2,
    "max_advance_days": 540,
    "primary_color": "#3F5E4A",
    "secondary_color": "#F3EEE4",
    "font_family": FontStack.OLD_STYLE.value,
    "contact_email": "hello@juniper-elopements.example",
}

DEMO_ADD_ONS = [
    {
        "slug": "second-photographer",
        "title": "Second photographer",
        "description": "A second shooter for candid angles and your guests' reactions.",
        "price_cents": 45_000,
        "position": 1,
    },
    {
        "slug": "florals",
        "title": "Bouquet & boutonniere",
        "description": "Seasonal wildflowers from a Boulder florist, delivered to your site.",
        "price_cents": 22_500,
        "position": 2,
    },
    {
        "slug": "hair-makeup",
        "title": "Hair & makeup",
        "description": "On-location styling for one, trial session included.",
        "price_cents": 38_000,
        "position": 3,
    },
    {
        "slug": "drone-footage",
        "title": "Drone footage",
        "description": "Two minutes of aerial film of you and the mountains (weather permitting).",
        "price_cents": 30_000,
        "position": 4,
    },
]

DEMO_PACKAGES = [
    {
        "slug": "sunrise-summit",
        "title": "Sunrise Summit",
        "description": "Two hours at a trailhead overlook at first light: officiant, "
        "photographer, a thermos of coffee and a hand-lettered certificate.",
        "price_cents": 180_000,
        "position": 1,
        "add_ons": ["second-photographer", "florals", "hair-makeup"],
    },
    {
        "slug": "alpine-lake",
        "title": "Alpine Lake",
        "description": "Half a day by a high lake: ceremony, portraits along the shore "
        "and a picnic for two. Up to 6 guests.",
        "price_cents": 320_000,
        "position": 2,
        "add_ons": ["second-photographer", "florals", "hair-makeup", "drone-footage"],
    },
    {
        "slug": "red-rocks-golden-hour",
        "title": "Red Rocks Golden Hour",
        "description": "An evening ceremony among red sandstone, 90 minutes of photography "
        "as the sun goes down.",
        "price_cents": 240_000,
        "position": 3,
        "add_ons": ["florals", "drone-footage"],
    },
    {
        "slug": "courthouse-and-cocktails",
        "title": "Courthouse & Cocktails",
        "description": "We handle the licence and the courthouse slot, then photograph "
        "you around downtown Denver and at a cocktail bar.",
        "price_cents": 95_000,
        "position": 4,
        "add_ons": ["second-photographer", "hair-makeup"],
    },
    {
        "slug": "full-day-adventure",
        "title": "Full-Day Adventure",
        "description": "Sunrise to sunset: a hike, a ceremony, a picnic and a second "
        "location, with a planner at your side all day.",
        "price_cents": 560_000,
        "position": 5,
        "add_ons": ["second-photographer", "florals", "hair-makeup", "drone-footage"],
    },
]

# Days from the tenant's today, on the first run only (see _seed_catalog).
DEMO_BLACKOUTS = [(9, "Team retreat"), (23, "Owners' anniversary"), (61, "Trail closed")]


# (days from today, package, add-ons, couple, paid?) — clear of the blackouts.
DEMO_BOOKINGS = [
    (20, "sunrise-summit", ["florals"], "Ada & Grace", True),
    (45, "alpine-lake", ["second-photographer", "drone-footage"], "Hedy & Alan", True),
    (30, "courthouse-and-cocktails", [], "Marie & Pierre", False),
]


def seed_demo_bookings(*, tenant: Tenant) -> int:
    """Two confirmed weddings and one hold awaiting payment, so the dashboard
    and calendar have something to show. Idempotent: nothing when the tenant
    has bookings already. They go through the booking services (and the
    audit log); the "payments" are recorded without a Stripe PaymentIntent,
    so these demo bookings can be canceled without refund only — bookings
    paid through the stand-in's checkout page can be refunded."""
    from bookings.models import Booking
    from bookings.services import booking_hold, booking_mark_paid

    if Booking.objects.filter(tenant=tenant).exists():
        return 0
    today = tenant_today(tenant=tenant)
    for days, package, add_ons, couple, paid in DEMO_BOOKINGS:
        slug = couple.split(" ")[0].lower()
        booking = booking_hold(
            tenant=tenant,
            package_slug=package,
            add_on_slugs=add_ons,
            event_date=today + dt.timedelta(days=days),
            couple_name=couple,
            email=f"{slug}@couples.altar.localhost",
        )
        if paid:
            booking_mark_paid(
                tenant=tenant,
                booking_id=booking.pk,
                checkout_session_id=f"cs_demo_{slug}",
                payment_intent_id="",
                amount_paid_cents=booking.amount_cents,
            )
    return len(DEMO_BOOKINGS)


def _seed_tenant() -> tuple[Tenant, bool]:
    try:
        tenant = tenant_get(slug=DEMO_SLUG)
    except TenantNotFound:
        extra = {k: v for k, v in DEMO_TENANT.items() if k not in ("name", "currency", "timezone")}
        created = tenant_create(
            slug=DEMO_SLUG,
            name=DEMO_TENANT["name"],
            currency=DEMO_TENANT["currency"],
            timezone_name=DEMO_TENANT["timezone"],
            **extra,
        )
        with tenant_scope(created.tenant):
            # The fixed demo key replaces the random one, so it is the only
            # publishable key; the random secret key stays (never printed).
            api_key_revoke(tenant=created.tenant, api_key=created.publishable.api_key)
        return created.tenant, True
    changed = {k: v for k, v in DEMO_TENANT.items() if getattr(tenant, k) != v}
    if changed:
        tenant_update(tenant=tenant, **changed)
    return tenant, False


def _seed_key(*, tenant: Tenant) -> str:
    """'issued', 'present' or 'revoked' (someone revoked or rotated it)."""
    wanted = hash_key(DEMO_PUBLISHABLE_KEY)
    for api_key in api_key_list(tenant=tenant):
        if api_key.key_hash == wanted:
            usable = api_key.revoked_at is None and api_key.valid_until is None
            return "present" if usable else "revoked"
    api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE, key=DEMO_PUBLISHABLE_KEY)
    return "issued"


def _seed_catalog(*, tenant: Tenant) -> dict[str, Any]:
    catalog: dict[str, Any] = {"add_ons": DEMO_ADD_ONS, "packages": DEMO_PACKAGES}
    # Dates relative to today would differ on every day's run: seed them once.
    if not blackout_date_list(tenant=tenant):
        today = tenant_today(tenant=tenant)
        catalog["blackout_dates"] = [
            {"date": (today + dt.timedelta(days=days)).isoformat(), "reason": reason}
            for days, reason in DEMO_BLACKOUTS
        ]
    return catalog_import(tenant=tenant, data=catalog).summary()


def _seed_staff(*, tenant: Tenant) -> bool:
    User = get_user_model()
    user = User.objects.filter(email__iexact=DEMO_STAFF_EMAIL).first()
    if (
        user is not None
        and user.check_password(DEMO_PASSWORD)
        and TenantMembership.objects.filter(
            tenant=tenant,
            user=user,
            role=TenantMembership.Role.OWNER,
            status=TenantMembership.Status.ACCEPTED,
        ).exists()
    ):
        return False  # set_password would re-salt the hash: a change for nothing
    staff_link(
        tenant=tenant,
        email=DEMO_STAFF_EMAIL,
        role=TenantMembership.Role.OWNER,
        password=DEMO_PASSWORD,
    )
    return True


def _seed_superuser() -> bool:
    User = get_user_model()
    user = User.objects.filter(email__iexact=DEMO_SUPERUSER_EMAIL).first()
    if user is None:
        User.objects.create_superuser(
            username=DEMO_SUPERUSER_EMAIL, email=DEMO_SUPERUSER_EMAIL, password=DEMO_PASSWORD
        )
        return True
    if user.is_superuser and user.is_staff and user.check_password(DEMO_PASSWORD):
        return False
    user.is_superuser = user.is_staff = True
    user.set_password(DEMO_PASSWORD)
    user.save()
    return True


class Command(AltarCommand):
    help = (
        f"Create (or bring back) the demo tenant {DEMO_SLUG!r}: branding, packages, "
        "add-ons, blackout dates, a fixed publishable key, an owner login "
        f"{DEMO_STAFF_EMAIL} and a superuser {DEMO_SUPERUSER_EMAIL} (password "
        f"{DEMO_PASSWORD!r}, for local demos only). Safe to run again: what is in place "
        "is left unchanged. Prints what to open."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            tenant, tenant_created = _seed_tenant()
            with tenant_scope(tenant):
                key_state = _seed_key(tenant=tenant)
                summary = _seed_catalog(tenant=tenant)
                staff_changed = _seed_staff(tenant=tenant)
                superuser_changed = _seed_superuser()
                bookings = seed_demo_bookings(tenant=tenant)

        base = settings.PUBLIC_BASE_URL.rstrip("/")
        write = self.stdout.write
        write(
            f"Demo tenant {tenant.slug} ({tenant.name}): "
            f"{'created' if tenant_created else 'already there'}."
        )
        created, updated = summary["created"], summary["updated"]
        write(
            f"Catalog: {created['packages']} packages, {created['add_ons']} add-ons, "
            f"{created['blackout_dates']} blackout dates created; "
            f"{updated['packages'] + updated['add_ons']} updated."
        )
        write(
            f"Logins: {'set' if staff_changed or superuser_changed else 'unchanged'}; "
            f"demo bookings created: {bookings}."
        )
        if key_state == "revoked":
            self.stderr.write(
                "Warning: the demo publishable key was revoked or rotated; "
                "it is refused until you delete that key row."
            )
        write("")
        write(f"Booking page: {base}{reverse('storefront:book', args=[tenant.slug])}")
        write(f"  (in Spanish: {base}{reverse('storefront:book', args=[tenant.slug])}?lang=es)")
        write(f"Admin:  {base}/admin/")
        write(f"  tenant owner: {DEMO_STAFF_EMAIL} / {DEMO_PASSWORD}")
        write(f"  superuser:    {DEMO_SUPERUSER_EMAIL} / {DEMO_PASSWORD}")
        write("  (demo passwords: never use them outside a local machine)")
        write(f"Publishable key: {DEMO_PUBLISHABLE_KEY}")
        write(f'API:    curl -H "X-Tenant-Key: {DEMO_PUBLISHABLE_KEY}" {base}/api/v1/packages')
        write(f"Docs:   {base}/api/docs/")
