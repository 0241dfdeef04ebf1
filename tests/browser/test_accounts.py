"""Accounts pages in a real browser (issue 10, items 1 and 2): an invitee opens
the e-mailed link, chooses a password, lands in the business's admin, and
later logs in with their e-mail. Screenshots of the login, reset and
invitation pages at 1280 and 390 px go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from tenants.models import TenantMembership
from tenants.scoping import tenant_scope
from tenants.services import staff_invite
from tests.browser.conftest import screenshot
from tests.conftest import run_outbox
from tests.factories import MembershipFactory, TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "Juniper-Meadow-4471"
LINK = re.compile(r"http://\S+(/accounts/invitations/\S+/)")


def both_widths(page: Page, name: str) -> None:
    """Screenshots at desktop and phone width; at 390 px nothing may scroll
    sideways."""
    screenshot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    screenshot(page, f"{name}-phone")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_an_invitee_accepts_the_invitation_and_logs_in(page: Page):
    tenant = TenantFactory(name="Juniper Elopements")
    with tenant_scope(tenant):
        MembershipFactory(tenant=tenant, role="owner")
        staff_invite(tenant=tenant, email="new.hire@juniper.example", role="staff")
    assert run_outbox() == 1
    (invitation,) = mail.outbox
    path = LINK.search(invitation.body).group(1)

    # the invitation page: choose a password
    page.goto(path)
    expect(page.locator("#content")).to_contain_text("Juniper Elopements invites you")
    both_widths(page, "invitation-accept")
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    expect(page.locator(".messagelist")).to_contain_text("Welcome to Juniper Elopements.")
    with tenant_scope(tenant):
        membership = TenantMembership.objects.get(user__email="new.hire@juniper.example")
    assert membership.status == "accepted"

    # log out, then log in with the e-mail on the login page
    page.locator("#logout-form").evaluate("form => form.requestSubmit()")
    page.goto("/accounts/login/")
    expect(page.locator("label[for=id_username]")).to_have_text(re.compile(r"^\s*E-mail"))
    both_widths(page, "login")
    page.fill("#id_username", "new.hire@juniper.example")
    page.fill("#id_password", PASSWORD)
    page.click("#login-form [type=submit]")
    page.wait_for_url("**/admin/")
    expect(page.locator("#user-tools")).to_contain_text("Juniper Elopements")

    # the link is spent
    page.goto(path)
    expect(page.locator(".errornote")).to_contain_text("no longer valid")


def test_the_reset_pages_render(page: Page):
    page.goto("/admin/login/")
    page.click("text=Forgotten your password or username?")
    page.wait_for_url("**/accounts/password_reset/")
    expect(page.locator("label[for=id_email]")).to_have_text("E-mail:")
    expect(page.locator("#nav-sidebar")).to_have_count(0)
    both_widths(page, "password-reset")
    page.fill("#id_email", "someone@juniper.example")
    page.click("input[type=submit]")
    page.wait_for_url("**/accounts/password_reset/done/")
    expect(page.locator("#content")).to_contain_text("If an Altar login uses that e-mail address")
    both_widths(page, "password-reset-done")
