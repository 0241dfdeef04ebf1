"""The tenant settings/branding admin, API keys and the active-tenant switch."""

from __future__ import annotations

import zoneinfo

import pytest
from django.test import Client

from catalog.models import Package
from tenants.branding import FontStack
from tenants.middleware import ACTIVE_TENANT_SESSION_KEY
from tenants.models import ApiKey, Tenant, TenantMembership
from tenants.services import api_key_issue
from tests.admin_pages import error_codes, page_form_data
from tests.factories import MembershipFactory, PackageFactory

pytestmark = pytest.mark.django_db

TENANTS = "/admin/tenants/tenant/"
KEYS = "/admin/tenants/apikey/"
PLATFORM_FIELDS = {
    "slug",
    "active",
    "commission_bps",
    "stripe_account_id",
    "stripe_charges_enabled",
}


def row(tenant) -> dict:
    return Tenant.objects.filter(pk=tenant.pk).values().get()


def test_staff_see_only_their_own_tenant(staff_client, tenant, other_tenant):
    changelist = staff_client.get(TENANTS)
    other = [
        staff_client.get(f"{TENANTS}{other_tenant.pk}/change/"),
        staff_client.post(f"{TENANTS}{other_tenant.pk}/change/", {"name": "Hijacked"}),
        staff_client.get(f"{TENANTS}{other_tenant.pk}/history/"),
    ]

    assert changelist.status_code == 200
    assert list(changelist.context["cl"].result_list) == [tenant]
    assert [r.status_code for r in other] == [404, 404, 404]
    assert Tenant.objects.get(pk=other_tenant.pk).name == "Beta Weddings"


def test_staff_view_settings_but_cannot_change_them(staff_client, tenant):
    before = row(tenant)

    page = staff_client.get(f"{TENANTS}{tenant.pk}/change/")
    response = staff_client.post(
        f"{TENANTS}{tenant.pk}/change/", {"name": "Renamed", "primary_color": "#000000"}
    )

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert response.status_code == 403
    assert row(tenant) == before


def test_owner_updates_branding_through_the_service(owner_client, tenant):
    before = row(tenant)
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = owner_client.post(
        f"{TENANTS}{tenant.pk}/change/",
        {**page_form_data(page), "primary_color": "#112233", "font_family": FontStack.DIDONE},
    )

    assert response.status_code == 302
    after = row(tenant)
    assert (after["primary_color"], after["font_family"]) == ("#112233", FontStack.DIDONE.value)
    # Branding changes invalidate the tenant's cached catalog (tenant_update).
    assert after["catalog_version"] == before["catalog_version"] + 1
    unchanged = {
        k: v
        for k, v in after.items()
        if k not in {"primary_color", "font_family", "catalog_version", "updated_at"}
    }
    assert unchanged == {k: v for k, v in before.items() if k in unchanged}


def test_owner_cannot_change_commission_or_stripe_fields(owner_client, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(stripe_account_id="acct_123")
    before = row(tenant)
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = owner_client.post(
        f"{TENANTS}{tenant.pk}/change/",
        {
            **page_form_data(page),
            "name": "Alpha Weddings & Co",
            # forged: these fields are not on the owner's form
            "commission_bps": "0",
            "stripe_account_id": "acct_forged",
            "stripe_charges_enabled": "on",
            "slug": "forged-slug",
            "active": "",
        },
    )

    assert PLATFORM_FIELDS.isdisjoint(page.context["adminform"].form.fields)
    assert PLATFORM_FIELDS <= set(page.context["adminform"].readonly_fields)
    assert response.status_code == 302
    after = row(tenant)
    assert after["name"] == "Alpha Weddings & Co"
    assert {name: after[name] for name in PLATFORM_FIELDS} == {
        name: before[name] for name in PLATFORM_FIELDS
    }


def test_owner_invalid_settings_are_form_errors(owner_client, tenant):
    before = row(tenant)
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = owner_client.post(
        f"{TENANTS}{tenant.pk}/change/",
        {
            **page_form_data(page),
            "primary_color": "red",
            "secondary_color": "#F4EDE4;}</style><script>alert(1)</script>",
            "font_family": "x;}</style><script>alert(1)</script>",
            "hold_minutes": "5",
        },
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert error_codes(form, "primary_color") == ["invalid_color"]
    assert error_codes(form, "secondary_color") == ["max_length"]
    assert error_codes(form, "font_family") == ["invalid_choice"]
    assert error_codes(form, "hold_minutes") == ["min_value"]
    assert row(tenant) == before


def test_font_family_is_a_choice_of_named_stacks(owner_client, tenant):
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    choices = page.context["adminform"].form.fields["font_family"].choices

    assert choices == list(FontStack.choices)
    assert ("Georgia, serif", "Georgia") in choices


def test_staff_cannot_add_or_delete_tenants(owner_client, tenant):
    responses = [
        owner_client.get(f"{TENANTS}add/"),
        owner_client.get(f"{TENANTS}{tenant.pk}/delete/"),
        owner_client.post(f"{TENANTS}{tenant.pk}/delete/", {"post": "yes"}),
    ]

    assert [r.status_code for r in responses] == [403, 403, 403]
    assert Tenant.objects.count() == 1


def test_superuser_sees_every_tenant_and_edits_platform_fields(
    superuser_client, tenant, other_tenant
):
    changelist = superuser_client.get(TENANTS)
    page = superuser_client.get(f"{TENANTS}{other_tenant.pk}/change/")

    response = superuser_client.post(
        f"{TENANTS}{other_tenant.pk}/change/", {**page_form_data(page), "commission_bps": "7.5"}
    )

    assert set(changelist.context["cl"].result_list) == {tenant, other_tenant}
    assert response.status_code == 302
    assert row(other_tenant)["commission_bps"] == 750


def test_superuser_creates_tenant_with_keys(superuser_client, unscoped):
    page = superuser_client.get(f"{TENANTS}add/")
    body = {**page_form_data(page), "name": "Gamma Events", "slug": "gamma-events"}

    response = superuser_client.post(f"{TENANTS}add/", body, follow=True)
    duplicate = superuser_client.post(f"{TENANTS}add/", body)

    assert response.status_code == 200
    gamma = Tenant.objects.get(slug="gamma-events")
    assert sorted(ApiKey.objects.filter(tenant=gamma).values_list("kind", flat=True)) == [
        "publishable",
        "secret",
    ]
    shown = [str(m) for m in response.context["messages"]]
    assert any("secret key (shown once): sk_" in m for m in shown)
    assert duplicate.status_code == 200
    # The form's unique check answers first; tenant_create's constraint
    # mapping (slug_taken) is what decides a race.
    assert error_codes(duplicate.context["adminform"].form, "slug") == ["unique"]
    assert Tenant.objects.count() == 1


def test_api_keys_are_for_superusers_only(owner_client, tenant, unscoped):
    api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE)

    assert owner_client.get(KEYS).status_code == 403
    index = owner_client.get("/admin/")
    models = [m["object_name"] for app in index.context["app_list"] for m in app["models"]]
    assert "ApiKey" not in models
    assert "Tenant" in models


def test_superuser_revokes_a_key(superuser_client, tenant, unscoped):
    issued = api_key_issue(tenant=tenant, kind=ApiKey.Kind.SECRET).api_key

    page = superuser_client.get(KEYS)
    response = superuser_client.post(
        KEYS, {"action": "revoke_keys", "_selected_action": [issued.pk]}
    )

    assert page.status_code == 200
    assert response.status_code == 302
    issued.refresh_from_db()
    assert issued.revoked_at is not None
    assert "key_hash" not in superuser_client.get(f"{KEYS}{issued.pk}/change/").content.decode()


# --- several tenants, one login ------------------------------------------------


@pytest.fixture
def two_tenant_user(tenant, other_tenant):
    user = MembershipFactory(tenant=tenant, role=TenantMembership.Role.OWNER).user
    MembershipFactory(tenant=other_tenant, user=user, role=TenantMembership.Role.STAFF)
    return user


def test_user_with_several_tenants_switches_the_active_one(
    client, two_tenant_user, tenant, other_tenant, unscoped
):
    PackageFactory(tenant=tenant, title="Alpha package")
    theirs = PackageFactory(tenant=other_tenant, title="Beta package")
    client.force_login(two_tenant_user)

    index = client.get("/admin/")
    switch_page = client.get(f"{TENANTS}switch/")
    response = client.post(f"{TENANTS}switch/", {"tenant": other_tenant.pk})
    packages = client.get("/admin/catalog/package/")
    settings_page = client.get(f"{TENANTS}{other_tenant.pk}/change/")

    assert f"{TENANTS}switch/" in index.content.decode()  # the header link
    assert switch_page.status_code == 200
    assert response.status_code == 302
    assert client.session[ACTIVE_TENANT_SESSION_KEY] == other_tenant.pk
    assert list(packages.context["cl"].result_list) == [theirs]
    # Staff (not owner) in that tenant: view only.
    assert settings_page.context["has_change_permission"] is False


def test_switching_to_a_tenant_one_is_not_a_member_of_is_404(
    client, two_tenant_user, tenant, unscoped
):
    stranger = Tenant.objects.create(slug="gamma-events", name="Gamma")
    client.force_login(two_tenant_user)

    response = client.post(f"{TENANTS}switch/", {"tenant": stranger.pk})
    packages = client.get("/admin/catalog/package/")

    assert response.status_code == 404
    assert ACTIVE_TENANT_SESSION_KEY not in client.session
    assert packages.status_code == 200
    assert Package.objects.count() == 0


# --- pages render for every role ---------------------------------------------


@pytest.mark.parametrize("role", ["staff", "owner", "superuser"])
def test_tenant_admin_pages_render(client, tenant, role, superuser, unscoped):
    user = superuser if role == "superuser" else MembershipFactory(tenant=tenant, role=role).user
    client.force_login(user)
    key = api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE).api_key

    urls = [
        "/admin/",
        "/admin/tenants/",
        TENANTS,
        f"{TENANTS}{tenant.pk}/change/",
        f"{TENANTS}{tenant.pk}/history/",
        f"{TENANTS}switch/",
    ]
    expected = {url: 200 for url in urls}
    if role == "superuser":
        urls += [f"{TENANTS}add/", KEYS, f"{KEYS}{key.pk}/change/"]
        expected = {url: 200 for url in urls}
        expected[f"{TENANTS}switch/"] = 404  # no memberships: nothing to switch

    assert {url: client.get(url).status_code for url in urls} == expected


def test_commission_is_a_percentage_for_superusers_and_hidden_from_tenant_staff(
    superuser, owner_client, tenant
):
    Tenant.objects.filter(pk=tenant.pk).update(commission_bps=1250)
    superuser_client = Client()  # owner_client holds the test's own client
    superuser_client.force_login(superuser)

    list_page = superuser_client.get(TENANTS).content.decode()
    edit_page = superuser_client.get(f"{TENANTS}{tenant.pk}/change/")
    owner_page = owner_client.get(f"{TENANTS}{tenant.pk}/change/").content.decode()
    owner_list = owner_client.get(TENANTS).content.decode()

    assert "12.5 %" in list_page
    field = edit_page.context["adminform"].form["commission_bps"]
    assert (field.label, field.value()) == ("Platform commission (%)", "12.5")
    assert 'value="12.5"' in str(field)
    for html in (owner_page, owner_list):
        assert "commission" not in html.lower()
        assert "bps" not in html.lower() and "basis points" not in html.lower()


def test_superuser_commission_refuses_more_than_half_or_three_decimals(superuser_client, tenant):
    page = superuser_client.get(f"{TENANTS}{tenant.pk}/change/")

    answers = [
        superuser_client.post(
            f"{TENANTS}{tenant.pk}/change/", {**page_form_data(page), "commission_bps": value}
        )
        for value in ("50.5", "12.125", "ten")
    ]

    assert [error_codes(a.context["adminform"].form, "commission_bps") for a in answers] == [
        ["max_value"],
        ["max_decimal_places"],
        ["invalid"],
    ]
    assert row(tenant)["commission_bps"] == 1000


# --- the settings page in the owner's words (issue 15) ------------------------------


def page_fields(page) -> dict[str, tuple[str, str]]:
    """Every field on the settings page as shown: {label: (kind, help text)},
    kind "edit" for an input, "shown" for a read-only line."""
    shown = {}
    for fieldset in page.context["adminform"]:
        for line in fieldset:
            for field in line:
                if field.is_readonly:
                    shown[str(field.field["label"])] = ("shown", str(field.field["help_text"]))
                else:
                    shown[str(field.field.label)] = ("edit", str(field.field.help_text))
    return shown


def test_settings_page_labels_are_the_owners_words(owner_client, tenant, unscoped):
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    fields = page_fields(page)

    assert page.status_code == 200
    assert [name for name, _ in page.context["adminform"].fieldsets] == [
        "Your business",
        "Booking rules",
        "Payment plan",
        "Booking page and widget",
        "Branding",
        "Payments account (Stripe)",
    ]
    assert list(fields) == [
        "Business name",
        "Booking page address",
        "Account active",
        "Contact e-mail",
        "Currency",
        "Time zone",
        "Hold a date while the couple pays (minutes)",
        "Unpaid holds per couple",
        "Unpaid holds per network address",
        "Unpaid holds in total",
        "Minimum notice (days)",
        "Bookable up to (days ahead)",
        "After paying, send couples to",
        "If couples leave the payment page, send them to",
        "Booking page language",
        "How couples pay",
        "Deposit (% of the total)",
        "Fixed deposit (USD)",
        "Deposit is refundable",
        "Charge the balance (days before the wedding)",
        "Booking page",
        "Your websites",
        "Main colour",
        "Accent colour",
        "Font",
        "Logo",
        "Logo preview",
        "Stripe account",
        "Stripe accepts payments",
        "Stripe pays out to you",
        "Stripe account last checked",
        "Disconnected from Altar on",
    ]
    assert fields["Booking page address"] == (
        "shown",
        "The last part of your booking page's address (…/book/your-business/). "
        "Set by Altar: ask us to change it.",
    )
    assert fields["How couples pay"] == (
        "edit",
        "In full when they book, or a deposit now and the balance later.",
    )
    assert fields["Fixed deposit (USD)"] == (
        "edit",
        "For a fixed deposit: the amount paid when booking.",
    )
    # No developer words in any label or help text.
    words = " ".join(f"{label} {help_text}" for label, (_, help_text) in fields.items()).lower()
    for developer_word in ("slug", "bps", "cents", "minor units", " id ", "tenant", "plan_"):
        assert developer_word not in words, developer_word


def place_zones() -> list[str]:
    areas = "Africa America Antarctica Arctic Asia Atlantic Australia Europe Indian Pacific"
    return sorted(
        name
        for name in zoneinfo.available_timezones()
        if name.split("/")[0] in areas.split() and "/" in name
    )


def test_currency_and_time_zone_are_lists(owner_client, tenant):
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")
    html = page.content.decode()
    form = page.context["adminform"].form

    currencies = form.fields["currency"].choices
    zones = form.fields["timezone"].choices

    assert len(currencies) == 133
    assert currencies[:2] == [
        ("aed", "AED — United Arab Emirates Dirham"),
        ("afn", "AFN — Afghan Afghani"),
    ]
    assert ("usd", "USD — US Dollar") in currencies
    assert ("jpy", "JPY — Japanese Yen") in currencies
    assert ("eur", "EUR — Euro") in currencies
    # Counted in thousandths (or ISK's whole hundredths) by Stripe: not offered.
    assert {code for code, _ in currencies} & {"bhd", "jod", "kwd", "omr", "tnd", "isk"} == set()
    # Every place zone of the installed tz database, sorted, with the
    # business's UTC first until it picks one.
    assert zones == [("UTC", "UTC (pick the zone of your city)")] + [
        (name, name.replace("_", " ")) for name in place_zones()
    ]
    assert zones[1] == ("Africa/Abidjan", "Africa/Abidjan")
    assert ("America/Denver", "America/Denver") in zones
    assert ("America/Port_of_Spain", "America/Port of Spain") in zones
    assert "US/Mountain" not in dict(zones)
    assert '<option value="usd" selected>USD — US Dollar</option>' in html
    assert '<option value="UTC" selected>UTC (pick the zone of your city)</option>' in html


def test_owner_picks_currency_and_time_zone(owner_client, tenant):
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = owner_client.post(
        f"{TENANTS}{tenant.pk}/change/",
        {**page_form_data(page), "currency": "eur", "timezone": "America/Denver"},
    )

    assert response.status_code == 302
    assert (row(tenant)["currency"], row(tenant)["timezone"]) == ("eur", "America/Denver")
    # Once in a place, UTC is no longer offered.
    again = owner_client.get(f"{TENANTS}{tenant.pk}/change/")
    zones = again.context["adminform"].form.fields["timezone"].choices
    assert [name for name, _ in zones] == place_zones()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("currency", "bhd"),
        ("currency", "USD"),
        ("currency", "xyz"),
        ("timezone", "Mars/Olympus_Mons"),
        ("timezone", "america/denver"),
        ("timezone", "US/Mountain"),
        ("timezone", "Etc/GMT+7"),
    ],
)
def test_settings_refuse_a_currency_or_zone_not_on_the_list(owner_client, tenant, field, value):
    before = row(tenant)
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = owner_client.post(
        f"{TENANTS}{tenant.pk}/change/", {**page_form_data(page), field: value}
    )

    assert response.status_code == 200
    assert error_codes(response.context["adminform"].form, field) == ["invalid_choice"]
    assert row(tenant) == before


def test_a_business_on_an_alias_zone_keeps_it(owner_client, tenant):
    Tenant.objects.filter(pk=tenant.pk).update(timezone="US/Mountain")
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = owner_client.post(
        f"{TENANTS}{tenant.pk}/change/", {**page_form_data(page), "name": "Alpha & Co"}
    )

    assert page.context["adminform"].form.fields["timezone"].choices[0] == (
        "US/Mountain",
        "US/Mountain",
    )
    assert response.status_code == 302
    assert (row(tenant)["name"], row(tenant)["timezone"]) == ("Alpha & Co", "US/Mountain")


def test_staff_read_the_currency_by_name(staff_client, tenant, unscoped):
    page = staff_client.get(f"{TENANTS}{tenant.pk}/change/")

    fields = page_fields(page)
    currency = next(
        field
        for fieldset in page.context["adminform"]
        for line in fieldset
        for field in line
        if field.is_readonly and str(field.field["label"]) == "Currency"
    )

    assert fields["Currency"][0] == "shown"
    assert currency.contents() == "USD — US Dollar"


def test_tenant_currency_validator_refuses_what_altar_cannot_count(unscoped):
    from django.core.exceptions import ValidationError

    from tenants.validators import validate_currency

    for code in ("bhd", "jod", "kwd", "omr", "tnd", "isk"):
        with pytest.raises(ValidationError) as refused:
            validate_currency(code)
        assert refused.value.code == "invalid_currency"
    assert validate_currency("usd") is None
    assert validate_currency("jpy") is None


def test_owner_reads_settings_and_team_in_the_sidebar_and_header(owner_client, tenant, unscoped):
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")
    business = next(
        group["items"]
        for group in page.context["sidebar_navigation"]
        if group["title"] == "Business"
    )
    header = page.content.decode().split('id="header-inner"', 1)[1].split("</h1>", 1)[0]

    assert [
        (item["title"], item["link"]) for item in business if item["title"] in ("Settings", "Team")
    ] == [
        ("Team", "/admin/tenants/tenantmembership/"),
        ("Settings", f"{TENANTS}{tenant.pk}/change/"),
    ]
    assert "Tenant" not in " ".join(item["title"] for item in business)
    assert ">Settings<" in header.replace("\n", "").replace(" ", "")
    assert "Tenants" not in header
