"""The catalog file (API.md §3): parse, validate, plan, apply, export.

The file describes the desired state of a tenant's catalog:

    {"packages": [{"slug", "title", "description", "price_cents", "active",
                   "position", "add_ons": ["slug", ...]}],
     "add_ons": [{"slug", "title", "description", "price_cents", "active", "position"}],
     "blackout_dates": [{"date", "reason"}]}

Packages and add-ons are matched by slug, blackout dates by date. Optional
fields (description, active, position, add_ons, reason) take their defaults
when omitted, so an entry always states the whole row. `position` on add-ons
is our addition to the contract: without it an export would not round-trip.

An import validates the whole file first and writes nothing when any entry
is wrong; then it compares every entry with the database and calls the
catalog/bookings services only for real differences, so re-importing the
same file changes nothing (and does not bump the tenant's catalog_version).
`prune` deactivates packages and add-ons the file omits and deletes blackout
dates it omits, but only for the sections the file contains: a file without
"blackout_dates" leaves blackout dates alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from rest_framework import serializers

from bookings import services as booking_services
from bookings.selectors import blackout_date_list
from catalog import services as catalog_services
from catalog.models import MAX_PRICE_CENTS, SLUG_VALIDATOR, AddOn, Package, PackageAddOn
from tenants.models import Tenant

SECTIONS = ("packages", "add_ons", "blackout_dates")
# PostgreSQL `integer`, the type of `position`.
INT_MIN, INT_MAX = -(2**31), 2**31 - 1


class CatalogFileInvalid(Exception):
    """The file has problems; `errors` holds one "path: message" line each."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__("\n".join(errors))


# --- validation -------------------------------------------------------------
# DRF serializers do the field work (required, types, ranges, lengths, the
# slug pattern); the Strict* fields refuse JSON values DRF would coerce
# ("12" for 12, 1 for true, 12 for "12"), since a file with those is wrong.


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class StrictDateField(serializers.DateField):
    def to_internal_value(self, data: Any) -> dt.date:
        if not isinstance(data, str):
            self.fail("invalid", format="YYYY-MM-DD")
        return super().to_internal_value(data)


class _Entry(serializers.Serializer):
    """Refuses keys it does not know: a typo ("price") must not pass silently."""

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        unknown = sorted(set(data) - set(self.fields)) if isinstance(data, dict) else []
        errors = {key: ["Unknown field."] for key in unknown}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Reported together, so one run lists every problem of the entry.
            raise serializers.ValidationError({**exc.detail, **errors}) from exc
        if errors:
            raise serializers.ValidationError(errors)
        return value


def _slug_field() -> StrictCharField:
    return StrictCharField(max_length=50, validators=[SLUG_VALIDATOR])


class AddOnEntry(_Entry):
    slug = _slug_field()
    title = StrictCharField(max_length=200)
    description = StrictCharField(allow_blank=True, trim_whitespace=False, default="")
    price_cents = StrictIntegerField(min_value=0, max_value=MAX_PRICE_CENTS)
    active = StrictBooleanField(default=True)
    position = StrictIntegerField(min_value=INT_MIN, max_value=INT_MAX, default=0)


class PackageEntry(AddOnEntry):
    add_ons = serializers.ListField(child=_slug_field(), default=list)


class BlackoutEntry(_Entry):
    date = StrictDateField(input_formats=["%Y-%m-%d"])
    reason = StrictCharField(max_length=200, allow_blank=True, default="")


class CatalogFileSerializer(_Entry):
    packages = PackageEntry(many=True, required=False)
    add_ons = AddOnEntry(many=True, required=False)
    blackout_dates = BlackoutEntry(many=True, required=False)


def _error_lines(detail: Any, path: str = "") -> list[str]:
    """DRF's nested error detail as `packages[2].price_cents: message` lines."""
    if isinstance(detail, dict):
        lines = []
        for key, value in detail.items():
            if key == "non_field_errors":
                name = path
            elif isinstance(key, int):
                name = f"{path}[{key}]"
            else:
                name = f"{path}.{key}" if path else str(key)
            lines.extend(_error_lines(value, name))
        return lines
    if isinstance(detail, list):
        if all(isinstance(item, str) for item in detail):
            return [f"{path or '(file)'}: {item}" for item in detail]
        lines = []
        for index, item in enumerate(detail):
            lines.extend(_error_lines(item, f"{path}[{index}]"))
        return lines
    return [f"{path or '(file)'}: {detail}"]


def _duplicates(entries: list[dict[str, Any]], key: str, section: str) -> list[str]:
    seen: dict[Any, int] = {}
    errors = []
    for index, entry in enumerate(entries):
        value = entry[key]
        if value in seen:
            first = f"{section}[{seen[value]}]"
            errors.append(f"{section}[{index}].{key}: {value!s} is already listed at {first}.")
        else:
            seen[value] = index
    return errors


def catalog_parse(*, data: Any, existing_add_on_slugs: set[str]) -> dict[str, list[dict]]:
    """The validated file, sections present only when the file has them.
    Raises CatalogFileInvalid listing every problem found."""
    if not isinstance(data, dict):
        raise CatalogFileInvalid(
            ['(file): Expected a JSON object with "packages", "add_ons", "blackout_dates".']
        )
    serializer = CatalogFileSerializer(data=data)
    if not serializer.is_valid():
        raise CatalogFileInvalid(_error_lines(serializer.errors))
    catalog: dict[str, list[dict]] = {
        section: list(serializer.validated_data[section])
        for section in SECTIONS
        if section in serializer.validated_data
    }
    errors = []
    errors += _duplicates(catalog.get("packages", []), "slug", "packages")
    errors += _duplicates(catalog.get("add_ons", []), "slug", "add_ons")
    errors += _duplicates(catalog.get("blackout_dates", []), "date", "blackout_dates")
    known = existing_add_on_slugs | {entry["slug"] for entry in catalog.get("add_ons", [])}
    for index, package in enumerate(catalog.get("packages", [])):
        errors += _duplicates(
            [{"slug": s} for s in package["add_ons"]], "slug", f"packages[{index}].add_ons"
        )
        errors += [
            f"packages[{index}].add_ons[{pos}]: Unknown add-on {slug!r} "
            "(neither in this file nor in the catalog)."
            for pos, slug in enumerate(package["add_ons"])
            if slug not in known
        ]
    if errors:
        raise CatalogFileInvalid(errors)
    return catalog


# --- plan -------------------------------------------------------------------

ITEM_FIELDS = ("title", "description", "price_cents", "active", "position")


@dataclass
class CatalogPlan:
    """What an import does. `*_changes` hold only the fields that differ."""

    add_on_creates: list[dict[str, Any]] = field(default_factory=list)
    add_on_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    package_creates: list[dict[str, Any]] = field(default_factory=list)
    package_updates: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    blackout_sets: list[tuple[dt.date, str, bool]] = field(default_factory=list)  # created?
    package_prunes: list[str] = field(default_factory=list)
    add_on_prunes: list[str] = field(default_factory=list)
    blackout_prunes: list[dt.date] = field(default_factory=list)
    unchanged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SECTIONS, 0))

    def summary(self) -> dict[str, dict[str, int]]:
        def counts(packages: int, add_ons: int, blackouts: int) -> dict[str, int]:
            return {"packages": packages, "add_ons": add_ons, "blackout_dates": blackouts}

        blackouts_created = sum(1 for *_, created in self.blackout_sets if created)
        return {
            "created": counts(
                len(self.package_creates), len(self.add_on_creates), blackouts_created
            ),
            "updated": counts(
                len(self.package_updates),
                len(self.add_on_updates),
                len(self.blackout_sets) - blackouts_created,
            ),
            "unchanged": dict(self.unchanged),
            "pruned": counts(
                len(self.package_prunes), len(self.add_on_prunes), len(self.blackout_prunes)
            ),
        }

    @property
    def changes_anything(self) -> bool:
        summary = self.summary()
        return any(n for key in ("created", "updated", "pruned") for n in summary[key].values())


def _diff(row: Package | AddOn, entry: dict[str, Any]) -> dict[str, Any]:
    return {name: entry[name] for name in ITEM_FIELDS if getattr(row, name) != entry[name]}


def _package_add_on_slugs(*, tenant: Tenant) -> dict[int, set[str]]:
    links = PackageAddOn.objects.filter(tenant=tenant).values_list("package_id", "add_on__slug")
    by_package: dict[int, set[str]] = {}
    for package_id, slug in links:
        by_package.setdefault(package_id, set()).add(slug)
    return by_package


def catalog_plan(*, tenant: Tenant, catalog: dict[str, list[dict]], prune: bool) -> CatalogPlan:
    """Compare the validated file with the tenant's catalog. Reads only."""
    plan = CatalogPlan()
    if "add_ons" in catalog:
        add_ons = {a.slug: a for a in AddOn.objects.filter(tenant=tenant)}
        for entry in catalog["add_ons"]:
            row = add_ons.get(entry["slug"])
            if row is None:
                plan.add_on_creates.append(entry)
            elif changes := _diff(row, entry):
                plan.add_on_updates.append((entry["slug"], changes))
            else:
                plan.unchanged["add_ons"] += 1
        if prune:
            listed = {entry["slug"] for entry in catalog["add_ons"]}
            plan.add_on_prunes = sorted(
                slug for slug, row in add_ons.items() if slug not in listed and row.active
            )
    if "packages" in catalog:
        packages = {p.slug: p for p in Package.objects.filter(tenant=tenant)}
        links = _package_add_on_slugs(tenant=tenant)
        for entry in catalog["packages"]:
            row = packages.get(entry["slug"])
            if row is None:
                plan.package_creates.append(entry)
                continue
            changes = _diff(row, entry)
            if links.get(row.pk, set()) != set(entry["add_ons"]):
                changes["add_on_slugs"] = entry["add_ons"]
            if changes:
                plan.package_updates.append((entry["slug"], changes))
            else:
                plan.unchanged["packages"] += 1
        if prune:
            listed = {entry["slug"] for entry in catalog["packages"]}
            plan.package_prunes = sorted(
                slug for slug, row in packages.items() if slug not in listed and row.active
            )
    if "blackout_dates" in catalog:
        reasons = {b.date: b.reason for b in blackout_date_list(tenant=tenant)}
        for entry in catalog["blackout_dates"]:
            date, reason = entry["date"], entry["reason"]
            if date not in reasons:
                plan.blackout_sets.append((date, reason, True))
            elif reasons[date] != reason:
                plan.blackout_sets.append((date, reason, False))
            else:
                plan.unchanged["blackout_dates"] += 1
        if prune:
            listed_dates = {entry["date"] for entry in catalog["blackout_dates"]}
            plan.blackout_prunes = sorted(d for d in reasons if d not in listed_dates)
    return plan


def catalog_apply(*, tenant: Tenant, plan: CatalogPlan) -> None:
    """Carry out the plan through the services. Call inside atomic.
    Add-ons come first so that packages can offer the new ones."""
    for entry in plan.add_on_creates:
        catalog_services.add_on_create(
            tenant=tenant, **{name: entry[name] for name in ("slug", *ITEM_FIELDS)}
        )
    for slug, changes in plan.add_on_updates:
        catalog_services.add_on_update(tenant=tenant, slug=slug, **changes)
    for entry in plan.package_creates:
        catalog_services.package_create(
            tenant=tenant,
            add_on_slugs=entry["add_ons"],
            **{name: entry[name] for name in ("slug", *ITEM_FIELDS)},
        )
    for slug, changes in plan.package_updates:
        catalog_services.package_update(tenant=tenant, slug=slug, **changes)
    for slug in plan.package_prunes:
        catalog_services.package_update(tenant=tenant, slug=slug, active=False)
    for slug in plan.add_on_prunes:
        catalog_services.add_on_update(tenant=tenant, slug=slug, active=False)
    for date, reason, _created in plan.blackout_sets:
        booking_services.blackout_date_set(tenant=tenant, date=date, reason=reason)
    for date in plan.blackout_prunes:
        booking_services.blackout_date_delete(tenant=tenant, date=date)


def catalog_import(
    *, tenant: Tenant, data: Any, prune: bool = False, dry_run: bool = False
) -> CatalogPlan:
    """Validate `data` (the parsed JSON) and apply it in one transaction.
    Raises CatalogFileInvalid (nothing written). With dry_run, only plans.
    Call inside the tenant's scope."""
    with transaction.atomic():
        # Serialize imports of one tenant, so two runs cannot plan from the
        # same snapshot. NO KEY: checkouts' foreign-key checks on the tenant
        # row (KEY SHARE) are not blocked.
        Tenant.objects.select_for_update(no_key=True).filter(pk=tenant.pk).get()
        existing = set(AddOn.objects.filter(tenant=tenant).values_list("slug", flat=True))
        catalog = catalog_parse(data=data, existing_add_on_slugs=existing)
        plan = catalog_plan(tenant=tenant, catalog=catalog, prune=prune)
        if not dry_run:
            catalog_apply(tenant=tenant, plan=plan)
    return plan


# --- export -----------------------------------------------------------------


def catalog_export(*, tenant: Tenant) -> dict[str, list[dict[str, Any]]]:
    """Every package (inactive too), add-on and blackout date, in a stable
    order (position, then slug; blackouts by date), in the import format."""
    links = _package_add_on_slugs(tenant=tenant)

    def item(row: Package | AddOn) -> dict[str, Any]:
        return {"slug": row.slug, **{name: getattr(row, name) for name in ITEM_FIELDS}}

    packages = sorted(Package.objects.filter(tenant=tenant), key=lambda p: (p.position, p.slug))
    add_ons = sorted(AddOn.objects.filter(tenant=tenant), key=lambda a: (a.position, a.slug))
    return {
        "packages": [{**item(p), "add_ons": sorted(links.get(p.pk, set()))} for p in packages],
        "add_ons": [item(a) for a in add_ons],
        "blackout_dates": [
            {"date": b.date.isoformat(), "reason": b.reason}
            for b in blackout_date_list(tenant=tenant)
        ],
    }
