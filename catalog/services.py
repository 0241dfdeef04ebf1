"""Catalog writes: packages, add-ons, their links and photos. One unit of work each.

Preconditions for every service: run inside the tenant's scope (the API, the
admin, a TenantCommand) or `scopes_disabled()`; the models' managers refuse
unscoped queries. Every write bumps the tenant's `catalog_version` in the
same transaction (tenants.services.tenant_catalog_changed), which invalidates
that tenant's cached public catalog and nobody else's. The caller's `tenant`
object keeps the old version number; re-read the tenant to see the new one.

Uniqueness and same-tenant links are the database's job (named constraints
and the composite foreign keys of catalog/migrations/0002); the services map
the violations to domain errors. Field problems raise Django's
ValidationError.
"""

from __future__ import annotations

import logging
import posixpath
import uuid
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Model, ProtectedError

from catalog.errors import (
    AddOnNotFound,
    PackageHasBookings,
    PackageNotFound,
    PhotoLimitReached,
    PhotoNotFound,
    SlugTaken,
)
from catalog.images import validate_image
from catalog.models import MAX_PHOTOS_PER_PACKAGE, AddOn, Package, PackageAddOn, PackagePhoto
from catalog.thumbnails import make_thumbnails
from config.db import violated_constraint
from tenants.audit import audit_entry, audit_record, audit_record_many, diff, snapshot
from tenants.models import Tenant
from tenants.services import tenant_catalog_changed
from tenants.validators import stripe_min_charge

logger = logging.getLogger("altar.catalog")

CATALOG_ITEM_FIELDS = frozenset(
    {"slug", "title", "description", "price_cents", "active", "position"}
)
# Updates name the row by its current `slug` argument, so a rename comes as
# `new_slug` (a `slug` key in **changes could never reach the service: Python
# refuses a keyword given twice at the call site).
ADD_ON_CHANGES = (CATALOG_ITEM_FIELDS - {"slug"}) | {"new_slug"}
# A package's own payment plan (tenants.models.PaymentPlanFields; empty
# plan_kind: the tenant's).
PACKAGE_PLAN_FIELDS = frozenset(
    {
        "plan_kind",
        "plan_deposit_percent",
        "plan_deposit_cents",
        "plan_deposit_refundable",
        "plan_balance_days_before",
    }
)
PACKAGE_CHANGES = ADD_ON_CHANGES | {"add_on_slugs"} | PACKAGE_PLAN_FIELDS

PACKAGE_SLUG_CONSTRAINT = "catalog_package_tenant_slug_uniq"
ADD_ON_SLUG_CONSTRAINT = "catalog_addon_tenant_slug_uniq"
# Composite FK (add_on_id, tenant_id) -> catalog_addon (id, tenant_id): refuses
# a link to another tenant's add-on, or to one deleted since we looked it up.
LINK_ADD_ON_CONSTRAINT = "catalog_packageaddon_add_on_same_tenant_fk"


# --- helpers -----------------------------------------------------------------


def _audit_fields(instance: Package | AddOn) -> dict[str, Any]:
    names = CATALOG_ITEM_FIELDS | (PACKAGE_PLAN_FIELDS if isinstance(instance, Package) else set())
    return snapshot(instance, sorted(names))


def _offered_slugs(*, tenant: Tenant, package: Package) -> list[str]:
    return sorted(
        PackageAddOn.objects.filter(tenant=tenant, package=package).values_list(
            "add_on__slug", flat=True
        )
    )


def _clean(instance: Model, *, exclude: Iterable[str] = ("tenant",)) -> None:
    # The tenant comes from a trusted object (no existence query needed);
    # uniqueness and constraints are left to the database.
    instance.full_clean(exclude=list(exclude), validate_unique=False, validate_constraints=False)
    if isinstance(instance, Package):
        _check_chargeable(instance)


def _check_chargeable(package: Package) -> None:
    """A package must cost at least what Stripe can charge in the tenant's
    currency (add-ons only add to it), so every checkout of it can be paid."""
    minimum = stripe_min_charge(package.tenant.currency)
    if package.price_cents < minimum:
        raise ValidationError(
            {
                "price_cents": ValidationError(
                    "Below the smallest amount Stripe can charge in this currency "
                    f"({minimum} minor units).",
                    code="amount_too_small",
                )
            }
        )


def _save_unique_slug(instance: Package | AddOn, constraint: str) -> None:
    """Insert/update inside a savepoint; a (tenant, slug) clash, decided by
    the database even under concurrency, becomes SlugTaken."""
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        if violated_constraint(exc) == constraint:
            raise SlugTaken(instance.slug) from exc
        raise


def _check_changes(changes: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = set(changes) - allowed
    if unknown:
        raise TypeError(f"unexpected fields: {', '.join(sorted(unknown))}")


def _apply_changes(instance: Package | AddOn, changes: dict[str, Any]) -> None:
    for name, value in changes.items():
        setattr(instance, "slug" if name == "new_slug" else name, value)


def _invalid_add_ons(slugs: Iterable[str]) -> ValidationError:
    return ValidationError(
        {
            "add_ons": [
                ValidationError(
                    "Unknown add-on: %(slug)s.", code="invalid_add_on", params={"slug": slug}
                )
                for slug in slugs
            ]
        }
    )


def _normalized_slugs(add_on_slugs: Any) -> list[str]:
    if isinstance(add_on_slugs, str) or not isinstance(add_on_slugs, list | tuple):
        raise ValidationError(
            {"add_ons": [ValidationError("Give a list of add-on slugs.", code="invalid")]}
        )
    if not all(isinstance(slug, str) for slug in add_on_slugs):
        raise ValidationError(
            {"add_ons": [ValidationError("Add-on slugs are strings.", code="invalid")]}
        )
    return list(dict.fromkeys(add_on_slugs))  # de-duplicated, order kept


def _set_add_on_links(*, tenant: Tenant, package: Package, add_on_slugs: Any) -> None:
    """Make the package offer exactly these add-ons (of this tenant, active
    or not). Call inside atomic, holding the package row lock."""
    slugs = _normalized_slugs(add_on_slugs)
    found = (
        dict(AddOn.objects.filter(tenant=tenant, slug__in=slugs).values_list("slug", "pk"))
        if slugs
        else {}
    )
    missing = [slug for slug in slugs if slug not in found]
    if missing:
        raise _invalid_add_ons(missing)
    wanted = set(found.values())
    links = PackageAddOn.objects.filter(tenant=tenant, package=package)
    links.exclude(add_on_id__in=wanted).delete()
    existing = set(links.values_list("add_on_id", flat=True))
    new_links = [
        PackageAddOn(tenant=tenant, package=package, add_on_id=add_on_id)
        for add_on_id in sorted(wanted - existing)
    ]
    if not new_links:
        return
    try:
        with transaction.atomic():
            PackageAddOn.objects.bulk_create(new_links)
    except IntegrityError as exc:
        # An add-on deleted by a concurrent transaction after our lookup.
        if violated_constraint(exc) == LINK_ADD_ON_CONSTRAINT:
            raise _invalid_add_ons(slugs) from exc
        raise


def _locked_package(*, tenant: Tenant, slug: str, for_delete: bool = False) -> Package:
    """The package row, locked until the end of the transaction.

    FOR NO KEY UPDATE for edits: serializes writers of this package without
    blocking checkouts, whose foreign-key checks take KEY SHARE locks on it.
    FOR UPDATE before a delete: it *does* conflict with those KEY SHARE
    locks, so no booking can commit a reference to the package between our
    "has no bookings" check and the delete (Django's FKs are deferred, so
    the booking side only checks at its commit, and then finds the row gone).
    """
    package = (
        Package.objects.select_for_update(of=("self",), no_key=not for_delete)
        .filter(tenant=tenant, slug=slug)
        .first()
    )
    if package is None:
        raise PackageNotFound()
    return package


def _locked_add_on(*, tenant: Tenant, slug: str, for_delete: bool = False) -> AddOn:
    add_on = (
        AddOn.objects.select_for_update(of=("self",), no_key=not for_delete)
        .filter(tenant=tenant, slug=slug)
        .first()
    )
    if add_on is None:
        raise AddOnNotFound()
    return add_on


def _photo_storage():
    return PackagePhoto._meta.get_field("image").storage


def _photo_files(image: str, thumbnails: list[dict]) -> list[str]:
    """A photo's files in storage: the original and its thumbnails."""
    return [image, *(thumb["name"] for thumb in thumbnails or [])]


def _delete_files_on_commit(names: list[str]) -> None:
    """Files go only once the rows are surely gone (a rollback keeps both)."""
    names = [name for name in names if name]
    if not names:
        return
    storage = _photo_storage()

    def delete_files() -> None:
        for name in names:
            storage.delete(name)

    # robust: a storage hiccup is logged; the database write already happened.
    transaction.on_commit(delete_files, robust=True)


# --- packages ----------------------------------------------------------------


@transaction.atomic
def package_create(
    *,
    tenant: Tenant,
    slug: str,
    title: str,
    price_cents: int,
    description: str = "",
    active: bool = True,
    position: int = 0,
    add_on_slugs: list[str] | None = None,
    **plan: Any,
) -> Package:
    """A new package, offering `add_on_slugs` (add-ons of this tenant), with
    its own payment plan if `plan` (PACKAGE_PLAN_FIELDS) says so.
    Raises SlugTaken, or ValidationError (fields incl. `add_ons`)."""
    _check_changes(plan, PACKAGE_PLAN_FIELDS)
    package = Package(
        **plan,
        tenant=tenant,
        slug=slug,
        title=title,
        description=description,
        price_cents=price_cents,
        active=active,
        position=position,
    )
    _clean(package)
    _save_unique_slug(package, PACKAGE_SLUG_CONSTRAINT)
    after = _audit_fields(package)
    if add_on_slugs:
        _set_add_on_links(tenant=tenant, package=package, add_on_slugs=add_on_slugs)
        after["add_ons"] = _offered_slugs(tenant=tenant, package=package)
    audit_record(tenant=tenant, action="package.created", obj=package, changes=diff({}, after))
    tenant_catalog_changed(tenant=tenant)
    return package


@transaction.atomic
def package_update(*, tenant: Tenant, slug: str, **changes: Any) -> Package:
    """Change some of {new_slug, title, description, price_cents, active,
    position, add_on_slugs} (add_on_slugs replaces the offered set).
    Raises PackageNotFound, SlugTaken, ValidationError."""
    _check_changes(changes, PACKAGE_CHANGES)
    package = _locked_package(tenant=tenant, slug=slug)
    add_on_slugs = changes.pop("add_on_slugs", None)
    before = _audit_fields(package)
    if add_on_slugs is not None:
        before["add_ons"] = _offered_slugs(tenant=tenant, package=package)
    if changes:
        _apply_changes(package, changes)
        _clean(package)
        _save_unique_slug(package, PACKAGE_SLUG_CONSTRAINT)
    after = _audit_fields(package)
    if add_on_slugs is not None:
        _set_add_on_links(tenant=tenant, package=package, add_on_slugs=add_on_slugs)
        after["add_ons"] = _offered_slugs(tenant=tenant, package=package)
    changed = diff(before, after)
    if changed:
        audit_record(tenant=tenant, action="package.updated", obj=package, changes=changed)
    tenant_catalog_changed(tenant=tenant)
    return package


@transaction.atomic
def package_delete(*, tenant: Tenant, slug: str) -> None:
    """Delete a package with its add-on links and photos. A package with
    bookings (any status) is refused with PackageHasBookings: deactivate it."""
    package = _locked_package(tenant=tenant, slug=slug, for_delete=True)
    # Built before the delete, which clears the pk; saved once it succeeded.
    entry = audit_entry(
        tenant=tenant,
        action="package.deleted",
        obj=package,
        changes=diff(
            {**_audit_fields(package), "add_ons": _offered_slugs(tenant=tenant, package=package)},
            {},
        ),
    )
    photo_names = [
        name
        for image, thumbnails in PackagePhoto.objects.filter(
            tenant=tenant, package=package
        ).values_list("image", "thumbnails")
        for name in _photo_files(image, thumbnails)
    ]
    try:
        with transaction.atomic():
            package.delete()
    except ProtectedError as exc:  # Booking.package is PROTECT
        raise PackageHasBookings() from exc
    audit_record_many([entry])
    _delete_files_on_commit(photo_names)
    tenant_catalog_changed(tenant=tenant)


# --- add-ons -----------------------------------------------------------------


@transaction.atomic
def add_on_create(
    *,
    tenant: Tenant,
    slug: str,
    title: str,
    price_cents: int,
    description: str = "",
    active: bool = True,
    position: int = 0,
) -> AddOn:
    """Raises SlugTaken or ValidationError."""
    add_on = AddOn(
        tenant=tenant,
        slug=slug,
        title=title,
        description=description,
        price_cents=price_cents,
        active=active,
        position=position,
    )
    _clean(add_on)
    _save_unique_slug(add_on, ADD_ON_SLUG_CONSTRAINT)
    audit_record(
        tenant=tenant, action="add_on.created", obj=add_on, changes=diff({}, _audit_fields(add_on))
    )
    tenant_catalog_changed(tenant=tenant)
    return add_on


@transaction.atomic
def add_on_update(*, tenant: Tenant, slug: str, **changes: Any) -> AddOn:
    """Change some of {new_slug, title, description, price_cents, active, position}.
    Every package offering it is served fresh (the version bump).
    Raises AddOnNotFound, SlugTaken, ValidationError."""
    _check_changes(changes, ADD_ON_CHANGES)
    add_on = _locked_add_on(tenant=tenant, slug=slug)
    before = _audit_fields(add_on)
    if changes:
        _apply_changes(add_on, changes)
        _clean(add_on)
        _save_unique_slug(add_on, ADD_ON_SLUG_CONSTRAINT)
    changed = diff(before, _audit_fields(add_on))
    if changed:
        audit_record(tenant=tenant, action="add_on.updated", obj=add_on, changes=changed)
    tenant_catalog_changed(tenant=tenant)
    return add_on


@transaction.atomic
def add_on_delete(*, tenant: Tenant, slug: str) -> None:
    """Delete an add-on and its package links. Bookings keep their add-on
    lines (title and price as sold); only the reference is cleared."""
    add_on = _locked_add_on(tenant=tenant, slug=slug, for_delete=True)
    entry = audit_entry(
        tenant=tenant,
        action="add_on.deleted",
        obj=add_on,
        changes=diff(_audit_fields(add_on), {}),
    )
    add_on.delete()
    audit_record_many([entry])
    tenant_catalog_changed(tenant=tenant)


# --- photos ------------------------------------------------------------------


def _photo_count(*, tenant: Tenant, package: Package) -> int:
    return PackagePhoto.objects.filter(tenant=tenant, package=package).count()


def package_photo_add(
    *,
    tenant: Tenant,
    package_slug: str,
    image: UploadedFile,
    alt: str = "",
    position: int = 0,
) -> PackagePhoto:
    """Attach a photo (JPEG/PNG/WebP, ≤ 5 MB, content-checked) to a package
    of at most 5 photos. Raises PackageNotFound, PhotoLimitReached, or
    ValidationError on `image` (`invalid_image`, `file_too_large`) / `alt`.

    The file is written before the package row is locked, so no row lock
    is held during a (possibly remote) upload. The storage deletes the file
    again if this transaction, or one it is part of (an admin save), rolls
    back (config/storage.py). A refused upload writes nothing.
    """
    info = validate_image(image)
    draft = PackagePhoto(tenant=tenant, alt=alt, position=position)
    _clean(draft, exclude=("tenant", "package", "image"))

    # Cheap early refusals, so that a doomed request uploads nothing. The
    # locked re-check below is the one that counts.
    package = Package.objects.filter(tenant=tenant, slug=package_slug).first()
    if package is None:
        raise PackageNotFound()
    if _photo_count(tenant=tenant, package=package) >= MAX_PHOTOS_PER_PACKAGE:
        raise PhotoLimitReached()

    field = PackagePhoto._meta.get_field("image")
    # Our own name: the client's file name is neither trusted nor needed.
    name = field.generate_filename(draft, f"{uuid.uuid4().hex}.{info.extension}")
    image.seek(0)
    with transaction.atomic():
        # Written inside the transaction: the storage deletes what it wrote
        # if the transaction rolls back (config.db_engine's on_rollback).
        stored_name = field.storage.save(name, image, max_length=field.max_length)
        thumbnails = make_thumbnails(
            upload=image, storage=field.storage, directory=posixpath.dirname(stored_name)
        )
        # Lock the package row so concurrent adds count one after another.
        package = _locked_package(tenant=tenant, slug=package_slug)
        if _photo_count(tenant=tenant, package=package) >= MAX_PHOTOS_PER_PACKAGE:
            raise PhotoLimitReached()
        # Passing the dimensions keeps ImageField from re-reading the file.
        photo = PackagePhoto.objects.create(
            tenant=tenant,
            package=package,
            image=stored_name,
            alt=alt,
            position=position,
            width=info.width,
            height=info.height,
            thumbnails=thumbnails,
        )
        audit_record(
            tenant=tenant,
            action="photo.added",
            obj=photo,
            changes=diff(
                {},
                {
                    "package": package.slug,
                    "image": stored_name,
                    "alt": alt,
                    "position": position,
                },
            ),
        )
        tenant_catalog_changed(tenant=tenant)
    return photo


def _photo_get(*, tenant: Tenant, photo_id: Any, lock: bool = False) -> PackagePhoto:
    queryset = PackagePhoto.objects.filter(tenant=tenant)
    if lock:
        queryset = queryset.select_for_update(of=("self",))
    try:
        photo = queryset.filter(pk=photo_id).first()
    except (TypeError, ValueError):  # not an id at all
        photo = None
    if photo is None:
        raise PhotoNotFound()
    return photo


@transaction.atomic
def package_photo_update(
    *, tenant: Tenant, photo_id: int, alt: str | None = None, position: int | None = None
) -> PackagePhoto:
    """Change a photo's alt text and/or position. Raises PhotoNotFound."""
    photo = _photo_get(tenant=tenant, photo_id=photo_id, lock=True)
    before = snapshot(photo, ["alt", "position"])
    if alt is not None:
        photo.alt = alt
    if position is not None:
        photo.position = position
    _clean(photo, exclude=("tenant", "package", "image"))
    photo.save(update_fields=["alt", "position"])
    changed = diff(before, snapshot(photo, ["alt", "position"]))
    if changed:
        audit_record(tenant=tenant, action="photo.updated", obj=photo, changes=changed)
    tenant_catalog_changed(tenant=tenant)
    return photo


@transaction.atomic
def package_photo_delete(*, tenant: Tenant, photo_id: int) -> None:
    """Delete a photo row now and its file once the transaction commits."""
    photo = _photo_get(tenant=tenant, photo_id=photo_id, lock=True)
    names = _photo_files(photo.image.name, photo.thumbnails)
    entry = audit_entry(
        tenant=tenant,
        action="photo.deleted",
        obj=photo,
        changes=diff(snapshot(photo, ["package_id", "image", "alt", "position"]), {}),
    )
    photo.delete()
    audit_record_many([entry])
    _delete_files_on_commit(names)
    tenant_catalog_changed(tenant=tenant)
