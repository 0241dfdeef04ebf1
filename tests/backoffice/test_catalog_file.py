"""import_catalog / export_catalog: validation of the whole file, one
transaction, idempotence, --prune, --dry-run, and the export round-trip."""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from bookings.models import BlackoutDate
from catalog.models import AddOn, Package, PackageAddOn
from tenants.models import Tenant
from tests.factories import (
    AddOnFactory,
    BlackoutDateFactory,
    PackageAddOnFactory,
    PackageFactory,
)

pytestmark = pytest.mark.usefixtures("unscoped")

CATALOG = {
    "packages": [
        {
            "slug": "elopement",
            "title": "Elopement",
            "description": "Just the two of you.",
            "price_cents": 150_000,
            "active": True,
            "position": 1,
            "add_ons": ["flowers", "drone"],
        },
        {
            "slug": "full-day",
            "title": "Full day",
            "description": "",
            "price_cents": 400_000,
            "active": False,
            "position": 2,
            "add_ons": [],
        },
    ],
    "add_ons": [
        {
            "slug": "flowers",
            "title": "Flowers",
            "description": "A bouquet.",
            "price_cents": 20_000,
            "active": True,
            "position": 1,
        },
        {
            "slug": "drone",
            "title": "Drone",
            "description": "",
            "price_cents": 30_000,
            "active": True,
            "position": 2,
        },
    ],
    "blackout_dates": [
        {"date": "2027-12-25", "reason": "Christmas"},
        {"date": "2028-01-01", "reason": ""},
    ],
}


def write_catalog(tmp_path: Path, data, name: str = "catalog.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_json(*args: str) -> dict:
    return json.loads(run(*args, "--json"))


def snapshot() -> dict:
    """Every catalog and blackout row of every tenant, plus catalog versions."""
    return {
        "packages": list(Package.objects.order_by("pk").values()),
        "add_ons": list(AddOn.objects.order_by("pk").values()),
        "links": list(PackageAddOn.objects.order_by("pk").values()),
        "blackouts": list(BlackoutDate.objects.order_by("pk").values()),
        "versions": dict(Tenant.objects.values_list("pk", "catalog_version")),
    }


def version(tenant: Tenant) -> int:
    return Tenant.objects.get(pk=tenant.pk).catalog_version


def counts(packages: int = 0, add_ons: int = 0, blackout_dates: int = 0) -> dict:
    return {"packages": packages, "add_ons": add_ons, "blackout_dates": blackout_dates}


# --- import ------------------------------------------------------------------


def test_import_creates_everything_in_the_file(tenant, other_tenant, tmp_path):
    # given an empty catalog and a valid file
    path = write_catalog(tmp_path, CATALOG)
    before_other = snapshot()["versions"][other_tenant.pk]

    # when
    report = run_json("import_catalog", "--tenant", tenant.slug, path)

    # then
    assert report == {
        "tenant": tenant.slug,
        "created": counts(2, 2, 2),
        "updated": counts(),
        "unchanged": counts(),
        "pruned": counts(),
        "dry_run": False,
    }
    elopement = Package.objects.get(tenant=tenant, slug="elopement")
    assert (elopement.title, elopement.price_cents, elopement.active, elopement.position) == (
        "Elopement",
        150_000,
        True,
        1,
    )
    assert sorted(elopement.add_ons.values_list("slug", flat=True)) == ["drone", "flowers"]
    assert Package.objects.get(tenant=tenant, slug="full-day").active is False
    assert dict(BlackoutDate.objects.filter(tenant=tenant).values_list("date", "reason")) == {
        dt.date(2027, 12, 25): "Christmas",
        dt.date(2028, 1, 1): "",
    }
    assert Package.objects.filter(tenant=other_tenant).count() == 0
    assert snapshot()["versions"][other_tenant.pk] == before_other


def test_import_twice_changes_nothing_the_second_time(tenant, tmp_path):
    # given the file imported once
    path = write_catalog(tmp_path, CATALOG)
    run("import_catalog", "--tenant", tenant.slug, path)
    before = snapshot()

    # when
    report = run_json("import_catalog", "--tenant", tenant.slug, path)

    # then: no row, link or catalog_version moved
    assert report["created"] == counts()
    assert report["updated"] == counts()
    assert report["pruned"] == counts()
    assert report["unchanged"] == counts(2, 2, 2)
    assert snapshot() == before


def test_import_updates_only_what_differs(tenant, tmp_path):
    # given an imported catalog
    run("import_catalog", "--tenant", tenant.slug, write_catalog(tmp_path, CATALOG))
    untouched_drone = AddOn.objects.get(tenant=tenant, slug="drone").updated_at
    v0 = version(tenant)
    changed = json.loads(json.dumps(CATALOG))
    changed["packages"][0]["price_cents"] = 175_000
    changed["packages"][0]["add_ons"] = ["flowers"]
    changed["add_ons"][0]["title"] = "Wildflowers"
    changed["blackout_dates"][1]["reason"] = "New year"

    # when
    report = run_json("import_catalog", "--tenant", tenant.slug, write_catalog(tmp_path, changed))

    # then
    assert report["created"] == counts()
    assert report["updated"] == counts(1, 1, 1)
    assert report["unchanged"] == counts(1, 1, 1)
    elopement = Package.objects.get(tenant=tenant, slug="elopement")
    assert elopement.price_cents == 175_000
    assert list(elopement.add_ons.values_list("slug", flat=True)) == ["flowers"]
    assert AddOn.objects.get(tenant=tenant, slug="flowers").title == "Wildflowers"
    assert AddOn.objects.get(tenant=tenant, slug="drone").updated_at == untouched_drone
    assert BlackoutDate.objects.get(tenant=tenant, date="2028-01-01").reason == "New year"
    assert version(tenant) > v0


def test_import_links_add_ons_that_exist_only_in_the_catalog(tenant, tmp_path):
    # given an add-on already in the tenant's catalog, not in the file
    AddOnFactory(tenant=tenant, slug="champagne")
    data = {
        "packages": [
            {"slug": "toast", "title": "Toast", "price_cents": 1000, "add_ons": ["champagne"]}
        ]
    }

    # when
    run("import_catalog", "--tenant", tenant.slug, write_catalog(tmp_path, data))

    # then
    package = Package.objects.get(tenant=tenant, slug="toast")
    assert list(package.add_ons.values_list("slug", flat=True)) == ["champagne"]
    assert AddOn.objects.filter(tenant=tenant).count() == 1


def test_invalid_file_changes_nothing_and_names_every_bad_entry(tenant, other_tenant, tmp_path):
    # given an existing catalog and a file with several problems
    PackageFactory(tenant=tenant, slug="elopement", price_cents=100)
    AddOnFactory(tenant=other_tenant, slug="their-add-on")
    bad = json.loads(json.dumps(CATALOG))
    bad["packages"][0]["price_cents"] = 1_000_000_000  # above the maximum
    bad["packages"][1]["add_ons"] = ["their-add-on"]  # another tenant's slug is unknown here
    bad["packages"].append(dict(CATALOG["packages"][1], slug="Not A Slug", price_cents="12"))
    bad["add_ons"].append(dict(CATALOG["add_ons"][0]))  # duplicate slug
    bad["blackout_dates"][0]["date"] = "2027-02-30"
    before = snapshot()

    # when
    with pytest.raises(CommandError) as excinfo:
        run("import_catalog", "--tenant", tenant.slug, write_catalog(tmp_path, bad))

    # then
    lines = str(excinfo.value).splitlines()
    named = sorted(line.strip().split(":")[0] for line in lines[1:])
    assert named == [
        "blackout_dates[0].date",
        "packages[0].price_cents",
        "packages[2].price_cents",
        "packages[2].slug",
    ]
    assert "nothing was changed" in lines[0]
    assert snapshot() == before


def test_cross_reference_errors_are_reported_after_field_errors_pass(tenant, tmp_path):
    # given a well-formed file with a duplicate slug and an unknown add-on
    bad = json.loads(json.dumps(CATALOG))
    bad["add_ons"].append(dict(CATALOG["add_ons"][1]))
    bad["packages"][1]["add_ons"] = ["flowers", "nope"]
    before = snapshot()

    # when
    with pytest.raises(CommandError) as excinfo:
        run("import_catalog", "--tenant", tenant.slug, write_catalog(tmp_path, bad))

    # then
    named = sorted(line.strip().split(":")[0] for line in str(excinfo.value).splitlines()[1:])
    assert named == ["add_ons[2].slug", "packages[1].add_ons[1]"]
    assert snapshot() == before


@pytest.mark.parametrize(
    ("data", "path"),
    [
        ([], "(file)"),
        ({"packages": {}}, "packages"),
        ({"packagez": []}, "packagez"),
        (
            {"packages": [{"slug": "a", "title": "A", "price_cents": 1, "colour": "red"}]},
            "packages[0].colour",
        ),
        (
            {"packages": [{"slug": "a", "title": "A", "price_cents": 1, "active": "yes"}]},
            "packages[0].active",
        ),
        ({"packages": [{"slug": "a", "title": "A", "price_cents": -1}]}, "packages[0].price_cents"),
        ({"packages": [{"slug": "a", "price_cents": 1}]}, "packages[0].title"),
        (
            {"packages": [{"slug": "a", "title": "A", "price_cents": 1, "add_ons": "x"}]},
            "packages[0].add_ons",
        ),
        (
            {"packages": [{"slug": "a", "title": "A", "price_cents": 1, "add_ons": ["B!"]}]},
            "packages[0].add_ons[0]",
        ),
        ({"add_ons": [{"slug": "a", "title": "A", "price_cents": True}]}, "add_ons[0].price_cents"),
        ({"blackout_dates": [{"date": 20271225}]}, "blackout_dates[0].date"),
        (
            {"blackout_dates": [{"date": "2027-12-25"}, {"date": "2027-12-25"}]},
            "blackout_dates[1].date",
        ),
    ],
)
def test_invalid_structures_are_refused_with_their_path(tenant, tmp_path, data, path):
    before = snapshot()

    with pytest.raises(CommandError) as excinfo:
        run("import_catalog", "--tenant", tenant.slug, write_catalog(tmp_path, data))

    lines = str(excinfo.value).splitlines()[1:]
    assert [line.strip().split(": ")[0] for line in lines] == [path]
    assert snapshot() == before


def test_file_that_is_not_json_is_one_clear_error(tenant, tmp_path):
    path = write_catalog(tmp_path, "{not json")

    with pytest.raises(CommandError) as excinfo:
        run("import_catalog", "--tenant", tenant.slug, path)

    assert "is not valid JSON" in str(excinfo.value)
    assert len(str(excinfo.value).splitlines()) == 1


def test_missing_file_is_one_clear_error(tenant, tmp_path):
    with pytest.raises(CommandError) as excinfo:
        run("import_catalog", "--tenant", tenant.slug, str(tmp_path / "missing.json"))

    assert str(excinfo.value).startswith("Cannot read ")
    assert len(str(excinfo.value).splitlines()) == 1


def test_unknown_tenant_is_a_clear_error(db, tmp_path):
    path = write_catalog(tmp_path, CATALOG)

    with pytest.raises(CommandError, match="No tenant with slug 'nobody-here'"):
        run("import_catalog", "--tenant", "nobody-here", path)

    assert Package.objects.count() == 0


def test_prune_deactivates_and_deletes_what_the_file_omits(tenant, other_tenant, tmp_path):
    # given rows the file does not list, in this tenant and another
    run("import_catalog", "--tenant", tenant.slug, write_catalog(tmp_path, CATALOG))
    PackageFactory(tenant=tenant, slug="old-package")
    PackageFactory(tenant=tenant, slug="already-off", active=False)
    AddOnFactory(tenant=tenant, slug="old-add-on")
    BlackoutDateFactory(tenant=tenant, date=dt.date(2027, 7, 4))
    theirs = PackageFactory(tenant=other_tenant, slug="old-package")
    their_blackout = BlackoutDateFactory(tenant=other_tenant, date=dt.date(2027, 7, 4))

    # when
    report = run_json(
        "import_catalog", "--tenant", tenant.slug, "--prune", write_catalog(tmp_path, CATALOG)
    )

    # then
    assert report["pruned"] == counts(1, 1, 1)
    assert report["unchanged"] == counts(2, 2, 2)
    assert Package.objects.get(tenant=tenant, slug="old-package").active is False
    assert AddOn.objects.get(tenant=tenant, slug="old-add-on").active is False
    assert not BlackoutDate.objects.filter(tenant=tenant, date=dt.date(2027, 7, 4)).exists()
    assert Package.objects.filter(tenant=tenant).count() == 4
    theirs.refresh_from_db()
    assert theirs.active is True
    assert BlackoutDate.objects.filter(pk=their_blackout.pk).exists()


def test_prune_leaves_sections_the_file_does_not_have(tenant, tmp_path):
    # given a catalog with blackouts and a file with packages only
    run("import_catalog", "--tenant", tenant.slug, write_catalog(tmp_path, CATALOG))
    data = {"packages": CATALOG["packages"]}

    # when
    report = run_json(
        "import_catalog", "--tenant", tenant.slug, "--prune", write_catalog(tmp_path, data)
    )

    # then
    assert report["pruned"] == counts()
    assert BlackoutDate.objects.filter(tenant=tenant).count() == 2
    assert AddOn.objects.filter(tenant=tenant, active=True).count() == 2


def test_dry_run_reports_and_writes_nothing(tenant, tmp_path):
    # given one existing package that the file changes, and one to prune
    PackageFactory(tenant=tenant, slug="elopement", price_cents=1)
    PackageFactory(tenant=tenant, slug="gone")
    before = snapshot()

    # when
    report = run_json(
        "import_catalog",
        "--tenant",
        tenant.slug,
        "--dry-run",
        "--prune",
        write_catalog(tmp_path, CATALOG),
    )

    # then
    assert report == {
        "tenant": tenant.slug,
        "created": counts(1, 2, 2),
        "updated": counts(1, 0, 0),
        "unchanged": counts(),
        "pruned": counts(1, 0, 0),
        "dry_run": True,
    }
    assert snapshot() == before


def test_text_output_without_json(tenant, tmp_path):
    out = run("import_catalog", "--tenant", tenant.slug, write_catalog(tmp_path, CATALOG))

    assert out.splitlines() == [
        f"Catalog of {tenant.slug}:",
        "  created: 2 packages, 2 add-ons, 2 blackout-dates",
        "  updated: 0 packages, 0 add-ons, 0 blackout-dates",
        "  unchanged: 0 packages, 0 add-ons, 0 blackout-dates",
        "  pruned: 0 packages, 0 add-ons, 0 blackout-dates",
    ]


# --- export ------------------------------------------------------------------


def test_export_prints_the_whole_catalog_in_a_stable_order(tenant, other_tenant):
    # given packages (one inactive), add-ons, links and blackouts, plus another tenant's
    early = PackageFactory(
        tenant=tenant, slug="zeta", position=0, title="Zeta", description="Z", price_cents=5
    )
    PackageFactory(
        tenant=tenant,
        slug="alpha",
        position=3,
        active=False,
        title="Alpha",
        description="",
        price_cents=7,
    )
    flowers = AddOnFactory(tenant=tenant, slug="flowers", title="Flowers", price_cents=2)
    PackageAddOnFactory(package=early, add_on=flowers)
    PackageAddOnFactory(
        package=early, add_on=AddOnFactory(tenant=tenant, slug="cake", title="Cake", price_cents=3)
    )
    BlackoutDateFactory(tenant=tenant, date=dt.date(2027, 5, 2), reason="B")
    BlackoutDateFactory(tenant=tenant, date=dt.date(2027, 5, 1), reason="A")
    PackageFactory(tenant=other_tenant, slug="not-ours")

    # when
    exported = json.loads(run("export_catalog", "--tenant", tenant.slug))

    # then
    assert exported == {
        "packages": [
            {
                "slug": "zeta",
                "title": "Zeta",
                "description": "Z",
                "price_cents": 5,
                "active": True,
                "position": 0,
                "add_ons": ["cake", "flowers"],
            },
            {
                "slug": "alpha",
                "title": "Alpha",
                "description": "",
                "price_cents": 7,
                "active": False,
                "position": 3,
                "add_ons": [],
            },
        ],
        "add_ons": [
            {
                "slug": "cake",
                "title": "Cake",
                "description": "",
                "price_cents": 3,
                "active": True,
                "position": 0,
            },
            {
                "slug": "flowers",
                "title": "Flowers",
                "description": "",
                "price_cents": 2,
                "active": True,
                "position": 0,
            },
        ],
        "blackout_dates": [
            {"date": "2027-05-01", "reason": "A"},
            {"date": "2027-05-02", "reason": "B"},
        ],
    }


def test_export_import_export_round_trips(tenant, other_tenant, tmp_path):
    # given a catalog imported into one tenant
    run("import_catalog", "--tenant", tenant.slug, write_catalog(tmp_path, CATALOG))
    first = run("export_catalog", "--tenant", tenant.slug)

    # when it is exported, imported into another tenant and exported again
    path = write_catalog(tmp_path, first, name="exported.json")
    run("import_catalog", "--tenant", other_tenant.slug, path)
    second = run("export_catalog", "--tenant", other_tenant.slug)

    # then
    assert second == first
    assert json.loads(first)["packages"][0]["add_ons"] == ["drone", "flowers"]


def test_export_of_unknown_tenant_is_a_clear_error(db):
    with pytest.raises(CommandError, match="No tenant with slug 'nobody-here'"):
        run("export_catalog", "--tenant", "nobody-here")
