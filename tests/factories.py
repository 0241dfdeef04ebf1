"""Test data: factory-boy factories (children take their parent's tenant
through SelfAttribute, so one object graph never spans two tenants), a small
catalog to book from, and the body of a checkout request."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from bookings.models import BlackoutDate, Booking, BookingAddOn, BookingPayment
from catalog.models import AddOn, Package, PackageAddOn
from tenants.models import Tenant, TenantMembership


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"studio-{n}")
    name = factory.Sequence(lambda n: f"Studio {n}")
    currency = "usd"
    timezone = "UTC"
    commission_bps = 1000
    min_notice_days = 0
    max_advance_days = 730


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}@example.com")
    email = factory.SelfAttribute("username")
    is_staff = True
    password = factory.PostGenerationMethodCall("set_password", "pw-Altar-2026")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TenantMembership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = TenantMembership.Role.STAFF


class PackageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Package

    tenant = factory.SubFactory(TenantFactory)
    slug = factory.Sequence(lambda n: f"package-{n}")
    title = factory.Sequence(lambda n: f"Package {n}")
    description = "A small wedding."
    price_cents = 150_000
    active = True
    position = 0


class AddOnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AddOn

    tenant = factory.SubFactory(TenantFactory)
    slug = factory.Sequence(lambda n: f"add-on-{n}")
    title = factory.Sequence(lambda n: f"Add-on {n}")
    description = ""
    price_cents = 20_000
    active = True


class PackageAddOnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PackageAddOn

    package = factory.SubFactory(PackageFactory)
    tenant = factory.SelfAttribute("package.tenant")
    add_on = factory.SubFactory(AddOnFactory, tenant=factory.SelfAttribute("..tenant"))


def days_ahead(n: int) -> dt.date:
    return timezone.now().date() + dt.timedelta(days=n)


class BookingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Booking
        skip_postgeneration_save = True

    tenant = factory.SubFactory(TenantFactory)
    package = factory.SubFactory(PackageFactory, tenant=factory.SelfAttribute("..tenant"))
    event_date = factory.Sequence(lambda n: days_ahead(60 + n))
    couple_name = "Ada & Grace"
    email = "couple@example.com"
    status = Booking.Status.CONFIRMED
    amount_cents = factory.SelfAttribute("package.price_cents")
    currency = factory.SelfAttribute("tenant.currency")
    commission_bps = factory.SelfAttribute("tenant.commission_bps")
    commission_cents = factory.LazyAttribute(
        lambda o: (o.amount_cents * o.commission_bps + 5000) // 10000
    )
    paid_cents = factory.LazyAttribute(
        lambda o: o.amount_cents if o.status == Booking.Status.CONFIRMED else 0
    )
    hold_expires_at = factory.LazyAttribute(
        lambda o: (
            timezone.now() + dt.timedelta(minutes=30) if o.status == Booking.Status.HELD else None
        )
    )
    confirmed_at = factory.LazyAttribute(
        lambda o: timezone.now() if o.status == Booking.Status.CONFIRMED else None
    )

    @factory.post_generation
    def ledger(obj, create, extracted, **kwargs):
        """A paid booking has its payment in the ledger (the checkout payment)."""
        if create and obj.paid_cents:
            BookingPayment.objects.create(
                tenant=obj.tenant,
                booking=obj,
                kind=BookingPayment.Kind.DEPOSIT,
                status=BookingPayment.Status.SUCCEEDED,
                amount_cents=obj.paid_cents,
                application_fee_cents=obj.commission_cents,  # the whole price: all of it
                stripe_payment_intent_id=obj.stripe_payment_intent_id,
                succeeded_at=obj.confirmed_at or timezone.now(),
            )


class BookingAddOnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BookingAddOn

    booking = factory.SubFactory(BookingFactory)
    tenant = factory.SelfAttribute("booking.tenant")
    add_on = factory.SubFactory(AddOnFactory, tenant=factory.SelfAttribute("..tenant"))
    slug = factory.SelfAttribute("add_on.slug")
    title = factory.SelfAttribute("add_on.title")
    price_cents = factory.SelfAttribute("add_on.price_cents")


class BlackoutDateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BlackoutDate

    tenant = factory.SubFactory(TenantFactory)
    date = factory.Sequence(lambda n: days_ahead(300 + n))
    reason = "Closed"


@dataclass
class Catalog:
    package: Package
    flowers: AddOn
    photos: AddOn
    not_offered: AddOn


def make_catalog(tenant) -> Catalog:
    """One package offering two add-ons, plus one add-on it does not offer."""
    package = PackageFactory(
        tenant=tenant, slug="elopement", title="Elopement", price_cents=150_000
    )
    flowers = AddOnFactory(tenant=tenant, slug="flowers", title="Flowers", price_cents=12_345)
    photos = AddOnFactory(tenant=tenant, slug="photos", title="Photos", price_cents=40_000)
    not_offered = AddOnFactory(tenant=tenant, slug="string-quartet", price_cents=90_000)
    PackageAddOnFactory(tenant=tenant, package=package, add_on=flowers)
    PackageAddOnFactory(tenant=tenant, package=package, add_on=photos)
    return Catalog(package, flowers, photos, not_offered)


def checkout_body(**overrides) -> dict:
    """POST /api/v1/checkout for make_catalog's package."""
    body = {
        "package": "elopement",
        "add_ons": ["flowers"],
        "event_date": days_ahead(90).isoformat(),
        "couple_name": "Ada & Grace",
        "email": "ada@example.com",
        "phone": "+1 555 0100",
        "notes": "Sunset, please.",
    }
    body.update(overrides)
    return body
