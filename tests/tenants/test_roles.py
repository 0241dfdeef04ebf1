"""Roles in the admin, enforced on the server (issue 5, item 5).

Staff run bookings, blackouts and the catalog; owners also change the
business's settings (branding, hold minutes, booking window), its staff and
its API keys; only superusers change commission and Stripe Connect fields.
Every rule is tried for staff, owner, superuser and a member of another
tenant, with forged POSTs: refused (403) or ignored, rows unchanged.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tenants.branding import FontStack
from tenants.keys import hash_key
from tenants.models import ApiKey, AuditEntry, Tenant, TenantMembership
from tenants.services import api_key_issue
from tests.admin_pages import error_codes, page_form_data
from tests.factories import (
    BlackoutDateFactory,
    BookingFactory,
    MembershipFactory,
    PackageFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

TENANTS = "/admin/tenants/tenant/"
MEMBERS = "/admin/tenants/tenantmembership/"
PLATFORM_FIELDS = ("commission_bps", "stripe_account_id", "stripe_charges_enabled")
OWNER_FIELDS = {
    "primary_color": "#112233",
    "font_family": FontStack.HUMANIST.value,
    "hold_minutes": "90",
    "min_notice_days": "7",
    "max_advance_days": "400",
}


def tenant_row(tenant) -> dict:
    return Tenant.objects.filter(pk=tenant.pk).values().get()


def key_rows(tenant) -> list[dict]:
    return list(ApiKey.objects.filter(tenant=tenant).order_by("pk").values())


def member_rows() -> list[tuple]:
    return list(TenantMembership.objects.order_by("pk").values_list("tenant_id", "user_id", "role"))


def keys_url(tenant) -> str:
    return f"{TENANTS}{tenant.pk}/keys/"


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def other_owner_client(client, other_tenant):
    client.force_login(MembershipFactory(tenant=other_tenant, role="owner").user)
    return client


@pytest.fixture
def publishable(tenant, unscoped):
    return api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE)


# --- tenant settings ------------------------------------------------------------


def test_staff_see_settings_read_only_and_forged_posts_are_refused(staff_client, tenant):
    before = tenant_row(tenant)

    page = staff_client.get(f"{TENANTS}{tenant.pk}/change/")
    forged = staff_client.post(
        f"{TENANTS}{tenant.pk}/change/", {"name": tenant.name, **OWNER_FIELDS}
    )

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert "/keys/" not in page.content.decode()  # no owner links for staff
    assert forged.status_code == 403
    assert tenant_row(tenant) == before


def test_owner_changes_branding_hold_minutes_and_booking_window(owner_client, tenant, unscoped):
    before = tenant_row(tenant)
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = owner_client.post(
        f"{TENANTS}{tenant.pk}/change/", {**page_form_data(page), **OWNER_FIELDS}
    )

    assert response.status_code == 302
    after = tenant_row(tenant)
    assert {name: str(after[name]) for name in OWNER_FIELDS} == OWNER_FIELDS
    assert {name: after[name] for name in PLATFORM_FIELDS} == {
        name: before[name] for name in PLATFORM_FIELDS
    }
    entry = AuditEntry.objects.get(action="tenant.updated")
    assert (entry.actor_kind, entry.tenant_id) == ("staff", tenant.pk)
    assert entry.changes["hold_minutes"] == [30, 90]


def test_owner_forging_platform_fields_changes_none_of_them(owner_client, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(stripe_account_id="acct_real")
    before = tenant_row(tenant)
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = owner_client.post(
        f"{TENANTS}{tenant.pk}/change/",
        {
            **page_form_data(page),
            "commission_bps": "0",
            "stripe_account_id": "acct_forged",
            "stripe_charges_enabled": "on",
        },
    )

    assert set(PLATFORM_FIELDS).isdisjoint(page.context["adminform"].form.fields)
    assert response.status_code == 302
    assert tenant_row(tenant) == {**before, "updated_at": tenant_row(tenant)["updated_at"]}


def test_superuser_changes_commission_and_connect_settings(superuser_client, tenant):
    page = superuser_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = superuser_client.post(
        f"{TENANTS}{tenant.pk}/change/",
        {
            **page_form_data(page),
            "commission_bps": "2.5",  # per cent, as the form reads it
            "stripe_account_id": "acct_1Connect",
            "stripe_charges_enabled": "on",
        },
    )

    assert response.status_code == 302
    after = tenant_row(tenant)
    assert {name: after[name] for name in PLATFORM_FIELDS} == {
        "commission_bps": 250,
        "stripe_account_id": "acct_1Connect",
        "stripe_charges_enabled": True,
    }


def test_owner_of_another_tenant_gets_404_on_these_settings(other_owner_client, tenant):
    before = tenant_row(tenant)

    responses = [
        other_owner_client.get(f"{TENANTS}{tenant.pk}/change/"),
        other_owner_client.post(f"{TENANTS}{tenant.pk}/change/", OWNER_FIELDS),
        other_owner_client.get(f"{TENANTS}{tenant.pk}/history/"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert tenant_row(tenant) == before


# --- staff run bookings, blackouts and the catalog --------------------------------


@pytest.mark.parametrize("role", ["staff", "owner"])
def test_staff_and_owners_manage_bookings_blackouts_and_catalog(client, role, tenant, unscoped):
    staff_client = client
    staff_client.force_login(MembershipFactory(tenant=tenant, role=role).user)
    package = PackageFactory(tenant=tenant)
    booking = BookingFactory(tenant=tenant, package=package)
    blackout = BlackoutDateFactory(tenant=tenant)

    urls = [
        "/admin/catalog/package/",
        "/admin/catalog/package/add/",
        f"/admin/catalog/package/{package.pk}/change/",
        "/admin/catalog/addon/add/",
        "/admin/bookings/booking/",
        f"/admin/bookings/booking/{booking.pk}/change/",
        "/admin/bookings/blackoutdate/add/",
        f"/admin/bookings/blackoutdate/{blackout.pk}/change/",
    ]
    pages = {url: staff_client.get(url) for url in urls}
    index = staff_client.get("/admin/")

    assert {url: r.status_code for url, r in pages.items()} == {url: 200 for url in urls}
    assert pages[f"/admin/catalog/package/{package.pk}/change/"].context["has_change_permission"]
    models = {m["object_name"] for app in index.context["app_list"] for m in app["models"]}
    assert {"Package", "AddOn", "Booking", "BlackoutDate"} <= models
    assert "ApiKey" not in models
    assert ("TenantMembership" in models) is (role == "owner")


def test_owner_sees_staff_admin_and_key_links(owner_client, tenant):
    index = owner_client.get("/admin/")
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    models = {m["object_name"] for app in index.context["app_list"] for m in app["models"]}
    assert "TenantMembership" in models
    assert "ApiKey" not in models  # the cross-tenant key list stays the platform's
    assert f'href="{keys_url(tenant)}"' in page.content.decode()


# --- API keys ---------------------------------------------------------------------


def test_owner_rotates_the_publishable_key_without_grace(
    owner_client, api_client, tenant, publishable
):
    old = publishable.key
    assert api_client.get("/api/v1/tenant", HTTP_X_TENANT_KEY=old).status_code == 200

    response = owner_client.post(
        f"{keys_url(tenant)}rotate/", {"kind": "publishable", "grace_hours": "0"}
    )

    assert response.status_code == 200
    new = response.context["key"]
    assert new.startswith("pk_") and new in response.content.decode()
    assert response.headers["Cache-Control"].startswith("max-age=0, no-cache, no-store")
    assert [k["kind"] for k in key_rows(tenant)] == ["publishable", "publishable"]
    refused = api_client.get("/api/v1/tenant", HTTP_X_TENANT_KEY=old)
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "tenant_key_invalid"
    assert api_client.get("/api/v1/tenant", HTTP_X_TENANT_KEY=new).status_code == 200
    actions = list(
        AuditEntry.objects.filter(tenant=tenant, action__startswith="api_key.")
        .order_by("pk")
        .values_list("action", "actor_kind")
    )
    assert actions[-2:] == [("api_key.rotated", "staff"), ("api_key.issued", "staff")]


def test_old_key_keeps_working_for_the_grace_hours(owner_client, api_client, tenant, publishable):
    started = timezone.now()

    response = owner_client.post(
        f"{keys_url(tenant)}rotate/", {"kind": "publishable", "grace_hours": "48"}
    )

    assert response.status_code == 200
    old = ApiKey.objects.get(pk=publishable.api_key.pk)
    assert started + dt.timedelta(hours=48) <= old.valid_until
    assert old.valid_until <= timezone.now() + dt.timedelta(hours=48)
    assert api_client.get("/api/v1/tenant", HTTP_X_TENANT_KEY=publishable.key).status_code == 200
    # The grace period ends: move it into the past rather than wait.
    ApiKey.objects.filter(pk=old.pk).update(valid_until=timezone.now())
    assert api_client.get("/api/v1/tenant", HTTP_X_TENANT_KEY=publishable.key).status_code == 401


def test_a_new_secret_key_is_shown_once_and_stored_only_as_a_hash(owner_client, tenant, unscoped):
    response = owner_client.post(
        f"{keys_url(tenant)}rotate/", {"kind": "secret", "grace_hours": "1.5"}
    )
    listing = owner_client.get(keys_url(tenant))

    secret = response.context["key"]
    stored = ApiKey.objects.get(tenant=tenant, kind="secret")
    assert secret.startswith("sk_") and secret in response.content.decode()
    assert (stored.key_hash, stored.publishable_key) == (hash_key(secret), "")
    assert secret not in listing.content.decode()
    assert stored.prefix in listing.content.decode()
    assert secret not in str(list(AuditEntry.objects.values_list("changes", flat=True)))


def test_owner_revokes_a_key(owner_client, api_client, tenant, publishable):
    response = owner_client.post(f"{keys_url(tenant)}{publishable.api_key.pk}/revoke/")

    assert response.status_code == 302
    assert response["Location"] == keys_url(tenant)
    assert ApiKey.objects.get(pk=publishable.api_key.pk).revoked_at is not None
    assert api_client.get("/api/v1/tenant", HTTP_X_TENANT_KEY=publishable.key).status_code == 401
    entry = AuditEntry.objects.get(action="api_key.revoked")
    assert (entry.actor_kind, entry.object_id) == ("staff", str(publishable.api_key.pk))


def test_invalid_rotation_is_a_form_error_and_issues_nothing(owner_client, tenant, publishable):
    before = key_rows(tenant)

    response = owner_client.post(
        f"{keys_url(tenant)}rotate/", {"kind": "master", "grace_hours": "-1"}
    )

    assert response.status_code == 200
    form = response.context["rotate_form"]
    assert error_codes(form, "kind") == ["invalid_choice"]
    assert error_codes(form, "grace_hours") == ["min_value"]
    assert key_rows(tenant) == before


def test_revoke_needs_a_post(owner_client, tenant, publishable):
    before = key_rows(tenant)

    response = owner_client.get(f"{keys_url(tenant)}{publishable.api_key.pk}/revoke/")

    assert response.status_code == 405
    assert key_rows(tenant) == before


def test_staff_cannot_see_rotate_or_revoke_keys(staff_client, tenant, publishable):
    before = key_rows(tenant)

    responses = [
        staff_client.get(keys_url(tenant)),
        staff_client.post(f"{keys_url(tenant)}rotate/", {"kind": "secret", "grace_hours": "0"}),
        staff_client.post(f"{keys_url(tenant)}{publishable.api_key.pk}/revoke/"),
        staff_client.get("/admin/tenants/apikey/"),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403]
    assert key_rows(tenant) == before


def test_another_tenants_keys_are_not_found(other_owner_client, tenant, other_tenant, publishable):
    before = key_rows(tenant)

    responses = [
        other_owner_client.get(keys_url(tenant)),
        other_owner_client.post(
            f"{keys_url(tenant)}rotate/", {"kind": "publishable", "grace_hours": "0"}
        ),
        other_owner_client.post(f"{keys_url(tenant)}{publishable.api_key.pk}/revoke/"),
        # Their own tenant's URL with our key's id: still not found.
        other_owner_client.post(f"{keys_url(other_tenant)}{publishable.api_key.pk}/revoke/"),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert key_rows(tenant) == before
    assert key_rows(other_tenant) == []


def test_superuser_rotates_any_tenants_key(superuser_client, other_tenant, unscoped):
    api_key_issue(tenant=other_tenant, kind=ApiKey.Kind.SECRET)

    page = superuser_client.get(keys_url(other_tenant))
    response = superuser_client.post(
        f"{keys_url(other_tenant)}rotate/", {"kind": "secret", "grace_hours": "0"}
    )

    assert page.status_code == 200
    assert response.status_code == 200
    assert ApiKey.objects.filter(tenant=other_tenant, kind="secret").count() == 2


# --- staff members ----------------------------------------------------------------


def test_owner_invites_a_new_staff_member_by_email(owner_client, tenant, unscoped):
    page = owner_client.get(f"{MEMBERS}add/")

    response = owner_client.post(
        f"{MEMBERS}add/",
        {**page_form_data(page), "email": "New.Hire@Example.com", "role": "staff"},
        follow=True,
    )

    assert response.status_code == 200
    user = get_user_model().objects.get(email__iexact="new.hire@example.com")
    # No admin access and no password until they accept the e-mailed link.
    assert (user.is_staff, user.is_superuser, user.has_usable_password()) == (False, False, False)
    membership = TenantMembership.objects.get(user=user)
    assert (membership.tenant_id, membership.role, membership.status) == (
        tenant.pk,
        "staff",
        "pending",
    )
    assert messages_of(response) == [
        "Invitation e-mailed to new.hire@example.com. They have no access until they accept it."
    ]
    assert "/accounts/" not in response.content.decode()
    assert list(DBTaskResult.objects.values_list("task_path", flat=True)) == [
        "tenants.tasks.staff_invitation_mail"
    ]
    entry = AuditEntry.objects.get(action="invitation.created")
    assert (entry.actor_kind, entry.changes, entry.object_repr) == (
        "staff",
        {"role": [None, "staff"]},
        "invitation new.hire@example.com (staff)",
    )


def test_inviting_a_member_of_another_business_links_nothing_until_accepted(
    owner_client, tenant, other_tenant, unscoped
):
    # A member of another business, who never set a password yet: the owner
    # must get neither a link to their account nor access to it.
    theirs = MembershipFactory(tenant=other_tenant, role="owner").user
    theirs.set_unusable_password()
    theirs.save()

    response = owner_client.post(
        f"{MEMBERS}add/", {"email": theirs.email, "role": "staff"}, follow=True
    )

    assert response.status_code == 200
    assert messages_of(response) == [
        f"Invitation e-mailed to {theirs.email}. They have no access until they accept it."
    ]
    assert set(
        TenantMembership.objects.filter(user=theirs).values_list("tenant_id", "role", "status")
    ) == {(tenant.pk, "staff", "pending"), (other_tenant.pk, "owner", "accepted")}


def test_adding_someone_already_on_the_team_is_a_form_error(
    owner_client, owner_user, staff_user, unscoped
):
    before = member_rows()

    response = owner_client.post(f"{MEMBERS}add/", {"email": owner_user.email, "role": "staff"})

    assert response.status_code == 200
    assert error_codes(response.context["adminform"].form, "email") == ["already_member"]
    assert member_rows() == before


def test_owner_forging_a_tenant_on_add_still_adds_to_their_own(
    owner_client, tenant, other_tenant, unscoped
):
    response = owner_client.post(
        f"{MEMBERS}add/", {"email": "x@example.com", "role": "owner", "tenant": other_tenant.pk}
    )

    assert response.status_code == 302
    assert list(
        TenantMembership.objects.filter(user__email="x@example.com").values_list(
            "tenant_id", "status"
        )
    ) == [(tenant.pk, "pending")]


def test_owner_changes_a_role(owner_client, staff_user, tenant, unscoped):
    membership = TenantMembership.objects.get(user=staff_user)

    response = owner_client.post(f"{MEMBERS}{membership.pk}/change/", {"role": "owner"})

    assert response.status_code == 302
    assert TenantMembership.objects.get(pk=membership.pk).role == "owner"
    entry = AuditEntry.objects.get(action="membership.role_changed")
    assert entry.changes == {"role": ["staff", "owner"]}


def test_the_last_owner_cannot_be_demoted_or_removed(owner_client, owner_user, unscoped):
    membership = TenantMembership.objects.get(user=owner_user)
    before = member_rows()

    demote = owner_client.post(f"{MEMBERS}{membership.pk}/change/", {"role": "staff"})
    remove = owner_client.post(f"{MEMBERS}{membership.pk}/delete/", {"post": "yes"})

    assert demote.status_code == 200
    assert [e.code for e in demote.context["adminform"].form.non_field_errors().as_data()] == [
        "last_owner"
    ]
    assert remove.status_code == 302
    assert member_rows() == before
    assert not AuditEntry.objects.filter(action__startswith="membership.").exists()


def test_owner_removes_a_staff_member(owner_client, staff_user, unscoped):
    membership = TenantMembership.objects.get(user=staff_user)

    response = owner_client.post(f"{MEMBERS}{membership.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not TenantMembership.objects.filter(pk=membership.pk).exists()
    assert get_user_model().objects.filter(pk=staff_user.pk).exists()  # the account stays
    entry = AuditEntry.objects.get(action="membership.removed")
    assert entry.changes == {"user": [staff_user.username, None], "role": ["staff", None]}


def test_removed_staff_lose_access_to_the_tenant(client, staff_user, owner_client, unscoped):
    PackageFactory(tenant=TenantMembership.objects.get(user=staff_user).tenant)
    membership = TenantMembership.objects.get(user=staff_user)
    owner_client.post(f"{MEMBERS}{membership.pk}/delete/", {"post": "yes"})
    client.force_login(staff_user)

    response = client.get("/admin/catalog/package/")

    assert response.status_code == 403


def test_staff_cannot_manage_memberships(staff_client, staff_user, owner_user, unscoped):
    owner_membership = TenantMembership.objects.get(user=owner_user)
    before = member_rows()

    responses = [
        staff_client.get(MEMBERS),
        staff_client.get(f"{MEMBERS}add/"),
        staff_client.post(f"{MEMBERS}add/", {"email": "friend@example.com", "role": "owner"}),
        staff_client.post(f"{MEMBERS}{owner_membership.pk}/change/", {"role": "staff"}),
        staff_client.post(f"{MEMBERS}{owner_membership.pk}/delete/", {"post": "yes"}),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403, 403, 403]
    assert member_rows() == before
    assert not get_user_model().objects.filter(email="friend@example.com").exists()


def test_another_tenants_memberships_are_not_found(
    other_owner_client, owner_user, staff_user, unscoped
):
    theirs = TenantMembership.objects.get(user=staff_user)
    before = member_rows()

    listing = other_owner_client.get(MEMBERS)
    responses = [
        other_owner_client.get(f"{MEMBERS}{theirs.pk}/change/"),
        other_owner_client.post(f"{MEMBERS}{theirs.pk}/change/", {"role": "owner"}),
        other_owner_client.get(f"{MEMBERS}{theirs.pk}/delete/"),
        other_owner_client.post(f"{MEMBERS}{theirs.pk}/delete/", {"post": "yes"}),
        other_owner_client.get(f"{MEMBERS}{theirs.pk}/history/"),
    ]

    assert staff_user not in [m.user for m in listing.context["cl"].result_list]
    assert [r.status_code for r in responses] == [404, 404, 404, 404, 404]
    assert member_rows() == before


def test_superuser_invites_an_owner_to_any_tenant(superuser_client, other_tenant, unscoped):
    response = superuser_client.post(
        f"{MEMBERS}add/",
        {"tenant": other_tenant.pk, "email": "boss@example.com", "role": "owner"},
    )

    assert response.status_code == 302
    assert list(
        TenantMembership.objects.filter(user__email="boss@example.com").values_list(
            "tenant_id", "role", "status"
        )
    ) == [(other_tenant.pk, "owner", "pending")]


@pytest.mark.parametrize("role", ["owner", "superuser"])
def test_membership_pages_render(client, role, owner_user, staff_user, superuser, unscoped):
    client.force_login(superuser if role == "superuser" else owner_user)
    membership = TenantMembership.objects.get(user=staff_user)

    urls = [
        MEMBERS,
        f"{MEMBERS}add/",
        f"{MEMBERS}{membership.pk}/change/",
        f"{MEMBERS}{membership.pk}/delete/",
        f"{MEMBERS}{membership.pk}/history/",
    ]

    assert {url: client.get(url).status_code for url in urls} == {url: 200 for url in urls}


def test_superuser_is_not_limited_by_membership_roles(superuser_client, tenant, unscoped):
    user = UserFactory()

    response = superuser_client.post(
        f"{MEMBERS}add/", {"tenant": tenant.pk, "email": user.email, "role": "staff"}
    )

    assert response.status_code == 302
    assert list(
        TenantMembership.objects.filter(tenant=tenant, user=user).values_list("role", "status")
    ) == [("staff", "pending")]
