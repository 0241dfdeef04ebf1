"""Tenant branding (issue 10, item 9): only supported font stacks and
#RRGGBB colours, enforced by the model and the database, served to pages as
a stylesheet of CSS custom properties (tenants/branding.py)."""

from __future__ import annotations

import importlib

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from config.db import violated_constraint
from tenants.branding import FontStack, branding_css, branding_stylesheet_url
from tenants.models import Tenant
from tenants.services import tenant_update
from tenants.validators import validate_hex_color

pytestmark = pytest.mark.django_db

INJECTION = "x;}</style><script>alert(1)</script>"
fix_values = importlib.import_module("tenants.migrations.0005_tenant_branding_fix_values")


def tenant_row(tenant) -> dict:
    return Tenant.objects.filter(pk=tenant.pk).values().get()


def test_service_refuses_a_font_family_outside_the_stacks(tenant):
    before = tenant_row(tenant)

    with pytest.raises(ValidationError) as refused:
        tenant_update(tenant=Tenant.objects.get(pk=tenant.pk), font_family=INJECTION)

    assert [e.code for e in refused.value.error_dict["font_family"]] == ["invalid_choice"]
    assert tenant_row(tenant) == before


@pytest.mark.parametrize("color", ["red", "#12345", "#1234567", "#GGGGGG", "#AABBCC\n", "#abc"])
def test_colours_must_be_six_hex_digits(color):
    with pytest.raises(ValidationError) as refused:
        validate_hex_color(color)

    assert refused.value.code == "invalid_color"


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("font_family", INJECTION, "tenants_tenant_font_family_supported"),
        ("font_family", "Lora, serif", "tenants_tenant_font_family_supported"),
        ("primary_color", "#AABBC;", "tenants_tenant_colors_hex"),
        ("secondary_color", "red", "tenants_tenant_colors_hex"),
    ],
)
def test_database_refuses_what_the_model_refuses(tenant, column, value, constraint):
    # A write that skips the model's validation (update(), raw SQL, a
    # future code path) still cannot store it.
    with pytest.raises(IntegrityError) as refused, transaction.atomic():
        Tenant.objects.filter(pk=tenant.pk).update(**{column: value})

    assert violated_constraint(refused.value) == constraint


def test_stylesheet_sets_the_tenants_custom_properties(tenant):
    tenant = tenant_update(
        tenant=tenant,
        primary_color="#3F5E4A",
        secondary_color="#f3eee4",
        font_family=FontStack.OLD_STYLE,
    )

    assert branding_css(tenant) == (
        ":root {\n"
        "  --brand-primary: #3F5E4A;\n"
        "  --brand-secondary: #f3eee4;\n"
        '  --brand-font: "Iowan Old Style", "Palatino Linotype", "URW Palladio L", P052, serif;\n'
        "}\n"
    )


def test_stylesheet_of_an_unsaved_tenant_with_bad_values_falls_back_to_defaults():
    tenant = Tenant(slug="draft", primary_color=INJECTION, secondary_color="red")
    tenant.font_family = INJECTION

    assert branding_css(tenant) == (
        ":root {\n"
        "  --brand-primary: #7A4E6D;\n"
        "  --brand-secondary: #F4EDE4;\n"
        "  --brand-font: Georgia, serif;\n"
        "}\n"
    )


def test_stylesheet_view_serves_css_cacheable_per_version(
    client, tenant, django_assert_num_queries
):
    url = branding_stylesheet_url(tenant)

    with django_assert_num_queries(1):
        response = client.get(url)
    stale = client.get(f"/branding/{tenant.slug}.css?v=0")

    assert url == f"/branding/alpha-weddings.css?v={tenant.catalog_version}"
    assert response.status_code == 200
    assert response["Content-Type"] == "text/css; charset=utf-8"
    assert response.content.decode() == branding_css(tenant)
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert stale["Cache-Control"] == "public, max-age=60"


def test_branding_change_moves_the_stylesheet_url(tenant):
    before = branding_stylesheet_url(tenant)

    tenant = tenant_update(tenant=tenant, primary_color="#000000")

    assert branding_stylesheet_url(tenant) != before


def test_unknown_tenant_stylesheet_is_404(client):
    assert client.get("/branding/no-such-tenant.css").status_code == 404


def test_api_keeps_returning_the_font_family_string(tenant_api, tenant):
    tenant_update(tenant=tenant, font_family=FontStack.DIDONE)

    branding = tenant_api.get("/api/v1/tenant").json()["branding"]

    assert branding["font_family"] == (
        'Didot, "Bodoni MT", "Noto Serif Display", "URW Palladio L", P052, Sylfaen, serif'
    )


@pytest.mark.parametrize(
    ("old", "stack"),
    [
        ("'Cormorant Garamond', Georgia, serif", FontStack.OLD_STYLE),  # the old demo value
        ("&#x27;Cormorant Garamond&#x27;, Georgia, serif", FontStack.OLD_STYLE),
        ("'Playfair Display', serif", FontStack.DIDONE),
        ("Georgia, serif", FontStack.GEORGIA),
        ("Lora, serif", FontStack.TRANSITIONAL),
        ("Helvetica, Arial, sans-serif", FontStack.NEO_GROTESQUE),
        ("Montserrat", FontStack.GEOMETRIC),
        ("sans-serif", FontStack.SYSTEM_SANS),
        ("'Great Vibes', cursive", FontStack.HANDWRITTEN),
        (INJECTION, FontStack.GEORGIA),
        ("", FontStack.GEORGIA),
    ],
)
def test_migration_maps_old_font_values_to_a_stack(old, stack):
    assert fix_values.font_stack_for(old) == stack.value


def test_migration_stacks_are_the_models_stacks():
    assert fix_values.STACKS == set(FontStack.values)


@pytest.mark.parametrize(
    ("old", "fixed"),
    [("#3f5e4a", "#3f5e4a"), ("#abc", "#AABBCC"), ("red", "#7A4E6D"), (INJECTION, "#7A4E6D")],
)
def test_migration_fixes_colours(old, fixed):
    assert fix_values.color_for(old, "#7A4E6D") == fixed


@pytest.mark.django_db(transaction=True)
def test_migration_fixes_existing_rows_before_the_constraints_apply():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    # Given: the schema before this change, with the old free-text values.
    executor = MigrationExecutor(connection)
    executor.migrate([("tenants", "0004_membership_invitations")])
    executor.loader.build_graph()
    OldTenant = executor.loader.project_state(
        [("tenants", "0004_membership_invitations")]
    ).apps.get_model("tenants", "Tenant")
    demo = OldTenant.objects.create(
        slug="demo-old",
        name="Demo",
        font_family="'Cormorant Garamond', Georgia, serif",
        primary_color="#3F5E4A",
        secondary_color="#abc",
    )
    evil = OldTenant.objects.create(
        slug="evil-old", name="Evil", font_family=INJECTION, primary_color="red"
    )
    plain = OldTenant.objects.create(slug="plain-old", name="Plain")

    # When: migrating forward.
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    # Then: every row holds supported values; changed rows moved their version.
    rows = {
        row["slug"]: row
        for row in Tenant.objects.values(
            "slug", "font_family", "primary_color", "secondary_color", "catalog_version"
        )
    }
    assert rows["demo-old"] == {
        "slug": "demo-old",
        "font_family": FontStack.OLD_STYLE.value,
        "primary_color": "#3F5E4A",
        "secondary_color": "#AABBCC",
        "catalog_version": demo.catalog_version + 1,
    }
    assert rows["evil-old"] == {
        "slug": "evil-old",
        "font_family": FontStack.GEORGIA.value,
        "primary_color": "#7A4E6D",
        "secondary_color": "#F4EDE4",
        "catalog_version": evil.catalog_version + 1,
    }
    assert rows["plain-old"]["catalog_version"] == plain.catalog_version
