"""The audit log in the admin: a read-only, filterable list and each object's
history page; staff see their tenant's entries only, superusers all."""

from __future__ import annotations

import pytest

from catalog.services import package_update
from tenants.audit import actor_context
from tenants.models import AuditEntry
from tests.factories import PackageFactory

pytestmark = pytest.mark.django_db

AUDIT = "/admin/tenants/auditentry/"
PACKAGES = "/admin/catalog/package/"


@pytest.fixture
def changes(tenant, other_tenant, unscoped):
    """One package per tenant, each renamed once (one entry each)."""
    ours = PackageFactory(tenant=tenant, slug="garden", title="Garden")
    theirs = PackageFactory(tenant=other_tenant, slug="castle", title="Castle")
    with actor_context("command", "command:import_catalog"):
        package_update(tenant=tenant, slug="garden", title="Garden Ceremony")
        package_update(tenant=other_tenant, slug="castle", title="Castle Weekend")
    return {
        "ours": ours,
        "theirs": theirs,
        "our_entry": AuditEntry.objects.get(tenant=tenant),
        "their_entry": AuditEntry.objects.get(tenant=other_tenant),
    }


def listed(response) -> list[AuditEntry]:
    return list(response.context["cl"].result_list)


def test_staff_list_shows_only_their_tenants_entries(staff_client, changes):
    response = staff_client.get(AUDIT)

    assert response.status_code == 200
    assert listed(response) == [changes["our_entry"]]
    assert "Castle" not in response.content.decode()
    assert (
        "An Altar command (import_catalog) changed the package “Garden Ceremony”: "
        "title from “Garden” to “Garden Ceremony”"
    ) in response.content.decode()


def test_staff_list_filters_by_action_actor_and_object(staff_client, tenant, changes, unscoped):
    with actor_context("system"):
        package_update(tenant=tenant, slug="garden", price_cents=1_000)

    by_actor = staff_client.get(AUDIT, {"actor_kind": "command"})
    by_type = staff_client.get(AUDIT, {"object_type": "catalog.package"})
    by_search = staff_client.get(AUDIT, {"q": str(changes["ours"].pk)})

    assert listed(by_actor) == [changes["our_entry"]]
    assert len(listed(by_type)) == 2
    assert {e.tenant_id for e in listed(by_search)} == {tenant.pk}


def test_staff_get_404_for_another_tenants_entry(staff_client, changes):
    their_entry = changes["their_entry"]

    assert staff_client.get(f"{AUDIT}{their_entry.pk}/change/").status_code == 404
    assert staff_client.get(f"{AUDIT}{their_entry.pk}/history/").status_code == 404


def test_entries_are_read_only_in_the_admin(staff_client, superuser_client, changes):
    entry = changes["our_entry"]
    page = staff_client.get(f"{AUDIT}{entry.pk}/change/")

    responses = [
        client.post(url, data)
        for client in (staff_client, superuser_client)
        for url, data in (
            (f"{AUDIT}add/", {"action": "forged"}),
            (f"{AUDIT}{entry.pk}/change/", {"action": "forged"}),
            (f"{AUDIT}{entry.pk}/delete/", {"post": "yes"}),
        )
    ]

    assert page.status_code == 200
    assert "Garden Ceremony" in page.content.decode()
    assert [r.status_code for r in responses] == [403, 403, 403, 403, 403, 403]
    assert AuditEntry.objects.count() == 2
    entry.refresh_from_db()
    assert entry.action == "package.updated"


def test_history_page_shows_the_objects_entries(staff_client, changes):
    response = staff_client.get(f"{PACKAGES}{changes['ours'].pk}/history/")

    assert response.status_code == 200
    assert list(response.context["entries"]) == [changes["our_entry"]]
    html = response.content.decode()
    assert "package.updated" in html
    assert "command:import_catalog" in html
    assert (
        '<p class="audit-sentence">An Altar command (import_catalog) changed the package '
        "“Garden Ceremony”: title from “Garden” to “Garden Ceremony”</p>"
    ) in html
    assert "Castle" not in html


def test_history_page_of_another_tenants_object_is_404(staff_client, changes):
    assert staff_client.get(f"{PACKAGES}{changes['theirs'].pk}/history/").status_code == 404


def test_superuser_sees_every_tenants_entries(superuser_client, changes):
    response = superuser_client.get(AUDIT)
    their_history = superuser_client.get(f"{PACKAGES}{changes['theirs'].pk}/history/")

    assert response.status_code == 200
    assert set(listed(response)) == {changes["our_entry"], changes["their_entry"]}
    assert list(their_history.context["entries"]) == [changes["their_entry"]]
    assert superuser_client.get(f"{AUDIT}{changes['their_entry'].pk}/change/").status_code == 200


def test_tenant_history_page_shows_settings_changes(owner_client, tenant, other_tenant, unscoped):
    from tenants.services import tenant_update

    with actor_context("staff", "owner@alpha.example"):
        tenant_update(tenant=tenant, primary_color="#112233")

    own = owner_client.get(f"/admin/tenants/tenant/{tenant.pk}/history/")
    other = owner_client.get(f"/admin/tenants/tenant/{other_tenant.pk}/history/")

    assert own.status_code == 200
    assert [e.action for e in own.context["entries"]] == ["tenant.updated"]
    assert "#112233" in own.content.decode()
    assert other.status_code == 404
