"""The accounts pages (issue 10, item 2): every page renders in the admin's
look; the login says "E-mail"; password reset goes through the outbox, is
throttled per e-mail and per client address, and answers the same for
known and unknown addresses."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django_tasks_db.models import DBTaskResult

from tenants import ratelimit
from tenants.invitations import invitation_token_issue
from tenants.services import staff_invite
from tests.conftest import run_outbox
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

RESET = "/accounts/password_reset/"
NEW_PASSWORD = "Juniper-Meadow-4471"
RESET_LINK = re.compile(r"http://\S+(/accounts/reset/\S+/\S+/)")
# Per-request values: the CSRF token and the CSP nonce of the page's <style>.
CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"|nonce="[^"]+"')


@pytest.fixture
def clock(monkeypatch):
    """Time for the reset counters, passed explicitly (never slept)."""
    now = {"t": 1_800_000_000.0}  # the start of an hour window
    monkeypatch.setattr(ratelimit, "clock", lambda: now["t"])
    return now


@pytest.fixture
def member(tenant):
    user = MembershipFactory(tenant=tenant, role="staff").user
    user.email = user.username = "member@studio.example"
    user.save()
    return user


def ask_reset(email: str, ip: str = "203.0.113.7", **extra):
    return Client(REMOTE_ADDR=ip).post(RESET, {"email": email}, **extra)


def template_of(response) -> str:
    return response.templates[0].name


# --- every page renders ---------------------------------------------------------------


def test_every_accounts_page_renders_in_the_admin_look(member, tenant, unscoped):
    anonymous, signed_in = Client(), Client()
    signed_in.force_login(member)
    staff_invite(tenant=tenant, email="new@studio.example", role="staff")
    staff_invite(tenant=MembershipFactory().tenant, email=member.email, role="staff")
    ask_reset(member.email)
    run_outbox()  # mails both invitations and the reset link
    reset_path = RESET_LINK.search(mail.outbox[-1].body).group(1)
    # fresh links for the pages below (each supersedes the mailed one)
    new_token = invitation_token_issue(
        membership_id=get_user_model()
        .objects.get(email="new@studio.example")
        .tenant_memberships.get()
        .pk
    ).token
    existing_token = invitation_token_issue(
        membership_id=member.tenant_memberships.get(status="pending").pk
    ).token
    confirm = anonymous.get(reset_path, follow=True)  # Django moves the token to the session

    pages = {
        "/accounts/login/": (anonymous.get("/accounts/login/"), "admin/login.html"),
        "/admin/login/": (anonymous.get("/admin/login/"), "admin/login.html"),
        RESET: (anonymous.get(RESET), "registration/password_reset_form.html"),
        "done": (
            anonymous.get("/accounts/password_reset/done/"),
            "registration/password_reset_done.html",
        ),
        "confirm": (confirm, "registration/password_reset_confirm.html"),
        "complete": (
            anonymous.get("/accounts/reset/done/"),
            "registration/password_reset_complete.html",
        ),
        "invitation (new account)": (
            anonymous.get(f"/accounts/invitations/{new_token}/"),
            "accounts/invitation_new_account.html",
        ),
        "invitation (existing account)": (
            signed_in.get(f"/accounts/invitations/{existing_token}/"),
            "accounts/invitation_existing_account.html",
        ),
        "password change": (
            signed_in.get("/accounts/password_change/"),
            "registration/password_change_form.html",
        ),
        "password change done": (
            signed_in.get("/accounts/password_change/done/"),
            "registration/password_change_done.html",
        ),
        "logout": (signed_in.post("/accounts/logout/"), "registration/logged_out.html"),
    }

    assert {name: (r.status_code, template_of(r)) for name, (r, _) in pages.items()} == {
        name: (200, template) for name, (_, template) in pages.items()
    }
    for response, _ in pages.values():
        assert response.context["site_header"] == "Altar"
    assert confirm.context["validlink"] is True


def test_login_pages_ask_for_the_e_mail(db):
    for url in ("/accounts/login/", "/admin/login/"):
        page = Client().get(url)

        assert page.context["form"].fields["username"].label == "E-mail"
        assert re.search(rb'<label[^>]*for="id_username"[^>]*>\s*E-mail', page.content)
        assert b"Username" not in page.content
        assert b'href="/accounts/password_reset/"' in page.content


def test_logging_in_on_the_accounts_page_opens_the_admin(member):
    response = Client().post(
        "/accounts/login/", {"username": member.email, "password": "pw-Altar-2026"}
    )

    assert (response.status_code, response["Location"]) == (302, "/admin/")


# --- reset through the outbox, no enumeration -------------------------------------


def test_reset_answers_the_same_for_known_and_unknown_addresses(member, clock):
    known = ask_reset(member.email)
    unknown = ask_reset("nobody@studio.example", ip="198.51.100.9")

    assert (known.status_code, known["Location"], known.content) == (
        unknown.status_code,
        unknown["Location"],
        unknown.content,
    )
    assert (known.status_code, known["Location"]) == (302, "/accounts/password_reset/done/")
    # the same work in the request: one task each, nothing mailed yet
    assert DBTaskResult.objects.count() == 2
    assert mail.outbox == []
    assert run_outbox() == 2
    assert [m.to for m in mail.outbox] == [[member.email]]


def test_no_reset_mail_for_an_invitee_who_never_set_a_password(tenant, clock, unscoped):
    staff_invite(tenant=tenant, email="invitee@studio.example", role="staff")
    run_outbox()
    mail.outbox.clear()

    response = ask_reset("invitee@studio.example")

    assert response.status_code == 302
    assert run_outbox() == 1
    assert mail.outbox == []


def test_the_reset_link_sets_a_new_password_once(member, clock):
    ask_reset(member.email)
    run_outbox()
    (message,) = mail.outbox
    path = RESET_LINK.search(message.body).group(1)
    browser = Client()

    form = browser.get(path, follow=True)
    done = browser.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    reused = Client().get(path, follow=True)

    assert (done.status_code, done["Location"]) == (302, "/accounts/reset/done/")
    member.refresh_from_db()
    assert member.check_password(NEW_PASSWORD)
    assert reused.context["validlink"] is False


# --- throttles ------------------------------------------------------------------------


def test_reset_is_limited_to_5_an_hour_per_e_mail_address(member, clock):
    # from five different client addresses: the limit follows the e-mail
    answers = [ask_reset(member.email, ip=f"203.0.113.{n}").status_code for n in range(1, 8)]

    assert answers == [302, 302, 302, 302, 302, 429, 429]
    assert DBTaskResult.objects.count() == 5
    # an unknown address is counted the same way: its answers cannot tell
    unknown = [
        ask_reset("ghost@studio.example", ip=f"198.51.100.{n}").status_code for n in range(1, 8)
    ]
    assert unknown == answers
    # the next hour, the address may ask again
    clock["t"] += 3600
    assert ask_reset(member.email).status_code == 302


def test_a_refused_reset_looks_the_same_for_known_and_unknown_addresses(member, clock):
    for _ in range(5):
        ask_reset(member.email)
        ask_reset("ghost@studio.example", ip="198.51.100.1")

    known = ask_reset(member.email)
    unknown = ask_reset("ghost@studio.example", ip="198.51.100.1")

    assert (known.status_code, known["Retry-After"]) == (429, "3600")
    assert (unknown.status_code, unknown["Retry-After"]) == (429, "3600")
    # the page differs only by the address typed in (and the CSRF token)
    assert CSRF.sub(b"", known.content).replace(member.email.encode(), b"ADDRESS") == CSRF.sub(
        b"", unknown.content
    ).replace(b"ghost@studio.example", b"ADDRESS")
    assert b"Too many password-reset requests." in known.content


def test_reset_is_limited_to_20_an_hour_per_client_address(db, clock):
    answers = [ask_reset(f"person{n}@studio.example").status_code for n in range(21)]

    assert answers == [302] * 20 + [429]
    assert DBTaskResult.objects.count() == 20
    # another client is not affected
    assert ask_reset("person0@other.example", ip="198.51.100.9").status_code == 302


def test_a_forged_forwarded_for_does_not_dodge_the_limit(db, clock):
    # NUM_PROXIES is 0: X-Forwarded-For comes from the client and is ignored.
    answers = [
        ask_reset(f"p{n}@studio.example", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code
        for n in range(21)
    ]

    assert answers == [302] * 20 + [429]


def test_the_admin_login_links_to_the_reset_page(db):
    UserFactory()
    page = Client().get("/admin/login/")

    assert b"Forgotten your password or username?" in page.content
