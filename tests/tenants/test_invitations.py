"""Staff invitations (issue 10, item 1): an owner never sees or sets another
person's credentials; adding staff e-mails a single-use, expiring link to
the invitee; a pending membership grants nothing until accepted; the add
form answers the same whether or not the address has an account."""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from bookings.models import Booking
from tenants.errors import InvitationInvalid, InvitationWrongAccount
from tenants.invitations import invitation_token_issue
from tenants.models import AuditEntry, TenantMembership
from tenants.services import invitation_accept, staff_invite
from tests.conftest import run_outbox
from tests.factories import BookingFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

MEMBERS = "/admin/tenants/tenantmembership/"
PASSWORD = "pw-Altar-2026"  # tests.factories.UserFactory
NEW_PASSWORD = "Juniper-Meadow-4471"
LINK = re.compile(r"http://\S+/accounts/invitations/(\S+)/")


def owner_client_for(tenant) -> Client:
    client = Client()
    client.force_login(MembershipFactory(tenant=tenant, role="owner").user)
    return client


def invite(client: Client, email: str, role: str = "staff"):
    return client.post(f"{MEMBERS}add/", {"email": email, "role": role}, follow=True)


def links_in_outbox() -> list[tuple[list[str], str]]:
    """(recipients, token) of every invitation mail sent so far."""
    return [
        (message.to, LINK.search(message.body).group(1))
        for message in mail.outbox
        if "/accounts/invitations/" in message.body
    ]


def log_in(client: Client, login: str, password: str, next_url: str = "") -> None:
    response = client.post(
        f"/accounts/login/?next={next_url}" if next_url else "/accounts/login/",
        {"username": login, "password": password},
    )
    assert response.status_code == 302, response.content


def switchable_tenant_ids(client: Client) -> list[int]:
    page = client.get("/admin/tenants/tenant/switch/")
    if page.status_code == 404:
        return []
    return [m.tenant_id for m in page.context["memberships"]]


def test_takeover_through_staff_invitations_is_closed(tenant, other_tenant, unscoped):
    # given two businesses; B has a couple's booking
    owner_a, owner_b = owner_client_for(tenant), owner_client_for(other_tenant)
    theirs = BookingFactory(tenant=other_tenant, status=Booking.Status.CONFIRMED)

    # when A invites x@b.example, then B invites the same address
    answer_a = invite(owner_a, "x@b.example")
    answer_b = invite(owner_b, "x@b.example")

    # then neither owner was shown a link or a token, and both read the same
    for answer in (answer_a, answer_b):
        assert answer.status_code == 200
        assert "/accounts/" not in answer.content.decode()
        assert [str(m) for m in answer.context["messages"]] == [
            "Invitation e-mailed to x@b.example. They have no access until they accept it."
        ]
    # both memberships are pending: they grant nothing yet
    x = get_user_model().objects.get(email="x@b.example")
    assert (x.is_staff, x.has_usable_password()) == (False, False)
    assert set(TenantMembership.objects.filter(user=x).values_list("tenant_id", "status")) == {
        (tenant.pk, "pending"),
        (other_tenant.pk, "pending"),
    }
    assert mail.outbox == []  # nothing leaves inside the request

    # the invitations go to the invitee only, each with its own link
    assert run_outbox() == 2
    (to_a, token_a), (to_b, token_b) = links_in_outbox()
    assert (to_a, to_b) == (["x@b.example"], ["x@b.example"])
    assert token_a != token_b
    # only hashes are stored, never the link
    stored = set(TenantMembership.objects.values_list("invitation_token_hash", flat=True))
    assert token_a not in stored and token_b not in stored

    # A's owner cannot reach B's data: not B's booking, not a switch to B
    assert owner_a.get(f"/admin/bookings/booking/{theirs.pk}/change/").status_code == 404
    assert (
        owner_a.post("/admin/tenants/tenant/switch/", {"tenant": other_tenant.pk}).status_code
        == 404
    )

    # x accepts A's invitation (a new account: they choose their password)
    invitee = Client()
    page = invitee.get(f"/accounts/invitations/{token_a}/")
    assert page.status_code == 200
    assert page.templates[0].name == "accounts/invitation_new_account.html"
    accepted = invitee.post(
        f"/accounts/invitations/{token_a}/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert (accepted.status_code, accepted["Location"]) == (302, "/admin/")

    # B's invitation, still pending, grants nothing: x sees A only
    assert switchable_tenant_ids(invitee) == [tenant.pk]
    assert (
        invitee.post("/admin/tenants/tenant/switch/", {"tenant": other_tenant.pk}).status_code
        == 404
    )
    assert invitee.get(f"/admin/bookings/booking/{theirs.pk}/change/").status_code == 404
    listing = invitee.get("/admin/bookings/booking/")
    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == []
    export = invitee.get("/admin/bookings/booking/export.csv")
    assert export.status_code == 200
    assert len(export.content.decode().strip().splitlines()) == 1  # the header only

    # A's link is spent
    again = Client().get(f"/accounts/invitations/{token_a}/")
    assert again.status_code == 404

    # B's link needs x's own login now that the account has a password
    fresh = Client()
    to_login = fresh.get(f"/accounts/invitations/{token_b}/")
    assert to_login.status_code == 302
    assert to_login["Location"].startswith("/accounts/login/?next=/accounts/invitations/")
    log_in(fresh, "x@b.example", NEW_PASSWORD)
    confirm = fresh.get(f"/accounts/invitations/{token_b}/")
    assert confirm.templates[0].name == "accounts/invitation_existing_account.html"
    assert fresh.post(f"/accounts/invitations/{token_b}/").status_code == 302
    assert sorted(switchable_tenant_ids(fresh)) == sorted([tenant.pk, other_tenant.pk])
    assert set(TenantMembership.objects.filter(user=x).values_list("tenant_id", "status")) == {
        (tenant.pk, "accepted"),
        (other_tenant.pk, "accepted"),
    }
    assert list(
        AuditEntry.objects.filter(action="membership.accepted")
        .order_by("id")
        .values_list("tenant_id", flat=True)
    ) == [tenant.pk, other_tenant.pk]


def test_the_add_form_answers_the_same_whether_or_not_an_account_exists(
    tenant, other_tenant, unscoped
):
    # given an address with an account elsewhere (a password, another
    # business) and one that Altar has never seen
    known = MembershipFactory(tenant=other_tenant, role="owner").user
    known.email = known.username = "known@b.example"
    known.save()
    owner = owner_client_for(tenant)

    answers = [
        owner.post(f"{MEMBERS}add/", {"email": e, "role": "staff"})
        for e in (
            "known@b.example",
            "unknown@b.example",
        )
    ]

    assert [(a.status_code, a["Location"], a.content) for a in answers] == [
        (302, MEMBERS, b""),
        (302, MEMBERS, b""),
    ]
    listing = owner.get(MEMBERS)
    rows = {row.user.email: (row.role, row.status) for row in listing.context["cl"].result_list}
    assert rows["known@b.example"] == rows["unknown@b.example"] == ("staff", "pending")
    assert DBTaskResult.objects.count() == 2
    assert run_outbox() == 2
    bodies = [LINK.sub("LINK", m.body) for m in mail.outbox]
    assert bodies[0] == bodies[1]


def test_an_accepted_member_cannot_be_invited_again(owner_client, staff_user, unscoped):
    before = list(TenantMembership.objects.values_list("pk", "status"))

    response = owner_client.post(f"{MEMBERS}add/", {"email": staff_user.email, "role": "owner"})

    assert response.status_code == 200
    assert [e.code for e in response.context["adminform"].form.errors.as_data()["email"]] == [
        "already_member"
    ]
    assert list(TenantMembership.objects.values_list("pk", "status")) == before
    assert DBTaskResult.objects.count() == 0


def test_the_token_is_single_use_and_expires(tenant, unscoped):
    invited = staff_invite(tenant=tenant, email="late@example.com", role="staff")
    sent_at = dt.datetime(2026, 6, 1, 9, 0, tzinfo=dt.UTC)
    token = invitation_token_issue(membership_id=invited.membership.pk, now=sent_at).token
    ttl = dt.timedelta(days=7)

    # one second after the 7 days: refused, nothing changes
    with pytest.raises(InvitationInvalid):
        invitation_accept(
            token=token, password=NEW_PASSWORD, now=sent_at + ttl + dt.timedelta(seconds=1)
        )
    membership = TenantMembership.objects.get(pk=invited.membership.pk)
    assert (membership.status, membership.user.has_usable_password()) == ("pending", False)

    # one second before: accepted; a second use is refused
    invitation_accept(
        token=token, password=NEW_PASSWORD, now=sent_at + ttl - dt.timedelta(seconds=1)
    )
    with pytest.raises(InvitationInvalid):
        invitation_accept(
            token=token, password="Another-Pass-9931", now=sent_at + dt.timedelta(days=1)
        )
    membership.refresh_from_db()
    assert (membership.status, membership.invitation_token_hash) == ("accepted", "")
    assert membership.user.check_password(NEW_PASSWORD)


def test_an_expired_link_shows_the_invalid_page(tenant, unscoped):
    staff_invite(tenant=tenant, email="late@example.com", role="staff")
    run_outbox()
    ((_, token),) = links_in_outbox()
    TenantMembership.objects.update(invitation_expires_at=timezone.now() - dt.timedelta(seconds=1))

    response = Client().get(f"/accounts/invitations/{token}/")
    post = Client().post(
        f"/accounts/invitations/{token}/",
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert (response.status_code, post.status_code) == (404, 404)
    assert response.templates[0].name == "accounts/invitation_invalid.html"
    assert TenantMembership.objects.get().status == "pending"


def test_an_unknown_token_is_the_same_invalid_page(db):
    response = Client().get("/accounts/invitations/not-a-token/")

    assert response.status_code == 404
    assert response.templates[0].name == "accounts/invitation_invalid.html"


def test_resending_mails_a_new_link_and_kills_the_old_one(owner_client, tenant, unscoped):
    invite(owner_client, "again@example.com")
    run_outbox()
    membership = TenantMembership.objects.get(user__email="again@example.com")

    response = owner_client.post(
        MEMBERS,
        {"action": "resend_invitations", "_selected_action": [membership.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert [str(m) for m in response.context["messages"]] == ["1 invitation(s) re-sent."]
    assert run_outbox() == 1
    (_, old), (_, new) = links_in_outbox()
    assert Client().get(f"/accounts/invitations/{old}/").status_code == 404
    assert Client().get(f"/accounts/invitations/{new}/").status_code == 200
    assert AuditEntry.objects.filter(action="invitation.resent").count() == 1


def test_resending_an_accepted_membership_sends_nothing(owner_client, staff_user, unscoped):
    membership = TenantMembership.objects.get(user=staff_user)

    response = owner_client.post(
        MEMBERS, {"action": "resend_invitations", "_selected_action": [membership.pk]}, follow=True
    )

    assert [str(m) for m in response.context["messages"]] == [
        "0 invitation(s) re-sent. 1 already accepted: nothing to send."
    ]
    assert DBTaskResult.objects.count() == 0


def test_revoking_a_pending_invitation_kills_its_link(owner_client, tenant, unscoped):
    invite(owner_client, "gone@example.com")
    run_outbox()
    ((_, token),) = links_in_outbox()
    membership = TenantMembership.objects.get(user__email="gone@example.com")

    response = owner_client.post(f"{MEMBERS}{membership.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not TenantMembership.objects.filter(pk=membership.pk).exists()
    assert Client().get(f"/accounts/invitations/{token}/").status_code == 404
    entry = AuditEntry.objects.get(action="invitation.revoked")
    assert (entry.object_repr, entry.changes) == (
        "invitation gone@example.com (staff)",
        {"role": ["staff", None]},
    )
    # a revoked invitation mailed later (a queued resend) sends nothing
    assert invitation_token_issue(membership_id=membership.pk) is None


def test_another_account_cannot_accept_someone_elses_invitation(tenant, other_tenant, unscoped):
    invitee = UserFactory(email="inv@example.com", username="inv@example.com")
    staff_invite(tenant=tenant, email="inv@example.com", role="owner")
    run_outbox()
    ((_, token),) = links_in_outbox()
    intruder_user = MembershipFactory(tenant=other_tenant, role="owner").user
    intruder = Client()
    intruder.force_login(intruder_user)

    page = intruder.get(f"/accounts/invitations/{token}/")
    post = intruder.post(f"/accounts/invitations/{token}/")

    assert (page.status_code, post.status_code) == (403, 403)
    assert TenantMembership.objects.get(user=invitee).status == "pending"
    with pytest.raises(InvitationWrongAccount):
        invitation_accept(token=token, user=intruder_user)


def test_a_pending_owner_does_not_count_as_an_owner(owner_client, owner_user, tenant, unscoped):
    staff_invite(tenant=tenant, email="next-owner@example.com", role="owner")
    membership = TenantMembership.objects.get(user=owner_user)

    response = owner_client.post(f"{MEMBERS}{membership.pk}/change/", {"role": "staff"})

    assert response.status_code == 200
    assert TenantMembership.objects.get(pk=membership.pk).role == "owner"


def test_pending_members_get_no_booking_mail(tenant, unscoped):
    from bookings.notifications import _staff_recipients

    accepted = MembershipFactory(tenant=tenant, role="owner").user
    staff_invite(tenant=tenant, email="pending@example.com", role="staff")

    assert _staff_recipients(tenant) == [accepted.email]


def test_create_staff_links_at_once_and_settles_a_pending_invitation(tenant, unscoped):
    from tenants.services import staff_link

    staff_invite(tenant=tenant, email="ops-made@example.com", role="staff")

    linked = staff_link(
        tenant=tenant, email="ops-made@example.com", role="staff", password=NEW_PASSWORD
    )

    assert (linked.membership.status, linked.membership.invitation_token_hash) == ("accepted", "")
    assert linked.user.is_staff


@pytest.mark.django_db(transaction=True)
def test_two_businesses_inviting_one_new_address_at_once_share_one_account():
    from tenants.scoping import scopes_disabled
    from tests.concurrency import run_together
    from tests.factories import TenantFactory

    tenants = [TenantFactory(), TenantFactory()]

    def invite_from(tenant):
        def call():
            with scopes_disabled():
                return staff_invite(tenant=tenant, email="both@new.example", role="staff")

        return call

    results = run_together([invite_from(t) for t in tenants])

    assert [type(r).__name__ for r in results] == ["Invited", "Invited"]
    (user,) = get_user_model().objects.filter(email="both@new.example")
    with scopes_disabled():
        assert sorted(
            TenantMembership.objects.filter(user=user).values_list("tenant_id", "status")
        ) == sorted((t.pk, "pending") for t in tenants)


def test_invitation_mail_says_when_it_expires_in_the_business_time_zone(tenant, unscoped):
    from tenants.models import Tenant

    Tenant.objects.filter(pk=tenant.pk).update(timezone="America/Denver")
    tenant.refresh_from_db()
    staff_invite(tenant=tenant, email="new@b.example", role="staff")
    run_outbox()
    membership = TenantMembership.objects.get(user__email="new@b.example")
    expires = membership.invitation_expires_at.astimezone(ZoneInfo("America/Denver"))

    (message,) = mail.outbox
    assert f"expires on {expires:%-d %b %Y, %H:%M} (America/Denver). If it has" in message.body
    assert "UTC" not in message.body
