"""create_tenant, rotate_api_key and create_staff."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.keys import KEY_RE
from tenants.models import ApiKey, Tenant, TenantMembership
from tests.factories import UserFactory

pytestmark = pytest.mark.usefixtures("unscoped")

BASE_DIR = Path(__file__).resolve().parents[2]


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def run_json(*args: str) -> dict:
    return json.loads(run(*args, "--json"))


def tenant_status(key: str) -> int:
    client = APIClient()
    client.credentials(HTTP_X_TENANT_KEY=key)
    return client.get("/api/v1/tenant").status_code


# --- create_tenant -------------------------------------------------------------


def test_create_tenant_json_prints_the_tenant_and_both_keys(db):
    # when
    result = run_json(
        "create_tenant",
        "--slug",
        "juniper-co",
        "--name",
        "Juniper Co",
        "--timezone",
        "America/Denver",
        "--commission-bps",
        "750",
    )

    # then
    tenant = Tenant.objects.get(slug="juniper-co")
    assert result == {
        "tenant": {"id": tenant.pk, "slug": "juniper-co"},
        "publishable_key": result["publishable_key"],
        "secret_key": result["secret_key"],
    }
    assert result["publishable_key"].startswith("pk_live_")
    assert KEY_RE.match(result["publishable_key"]) and KEY_RE.match(result["secret_key"])
    assert result["secret_key"].startswith("sk_live_")
    assert (tenant.name, tenant.timezone, tenant.commission_bps, tenant.currency) == (
        "Juniper Co",
        "America/Denver",
        750,
        "usd",
    )
    assert ApiKey.objects.filter(tenant=tenant).count() == 2
    assert tenant_status(result["publishable_key"]) == 200


def test_create_tenant_text_output_shows_the_keys_once(db):
    out = run("create_tenant", "--slug", "juniper-co", "--name", "Juniper Co")

    lines = out.splitlines()
    assert lines[0].startswith("Created tenant juniper-co (Juniper Co), id ")
    assert lines[1].startswith("Publishable key: pk_live_")
    assert lines[2].startswith("Secret key:      sk_live_")
    assert "only this once" in lines[3]


def test_create_tenant_refuses_a_taken_slug(db):
    # given
    run("create_tenant", "--slug", "juniper-co", "--name", "Juniper Co")

    # when
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "--slug", "juniper-co", "--name", "Other")

    # then
    assert Tenant.objects.count() == 1
    assert ApiKey.objects.count() == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--slug", "Juniper Co"], "slug:"),
        (["--slug", "ab"], "slug:"),
        (["--slug", "admin"], "slug: This slug is reserved."),
        (["--slug", "fine-slug", "--currency", "USD"], "currency:"),
        (["--slug", "fine-slug", "--timezone", "Mars/Olympus"], "timezone:"),
        (["--slug", "fine-slug", "--commission-bps", "5001"], "--commission-bps must be between"),
        (["--slug", "fine-slug", "--commission-bps", "-1"], "--commission-bps must be between"),
    ],
)
def test_create_tenant_refuses_invalid_values_and_writes_nothing(db, args, message):
    with pytest.raises(CommandError) as excinfo:
        run("create_tenant", "--name", "Juniper", *args)

    assert str(excinfo.value).startswith(message)
    assert len(str(excinfo.value).splitlines()) == 1
    assert Tenant.objects.count() == 0
    assert ApiKey.objects.count() == 0


def test_create_tenant_non_number_commission_is_an_argument_error(db):
    with pytest.raises(CommandError, match="--commission-bps: invalid int value"):
        run("create_tenant", "--slug", "fine-slug", "--name", "N", "--commission-bps", "ten")

    assert Tenant.objects.count() == 0


def test_create_tenant_without_slug_exits_non_zero_with_one_line():
    # Parser behaviour of the real entry point; it never reaches the database.
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings_test"}
    result = subprocess.run(
        [sys.executable, "manage.py", "create_tenant", "--name", "Juniper"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "create_tenant: error: the following arguments are required: --slug"
    ]


# --- rotate_api_key ------------------------------------------------------------


def test_rotate_without_grace_refuses_the_old_key_at_once(tenant, tenant_key):
    # given a working key
    assert tenant_status(tenant_key) == 200

    # when
    result = run_json("rotate_api_key", "--tenant", tenant.slug)

    # then
    assert result == {
        "tenant": tenant.slug,
        "kind": "publishable",
        "key": result["key"],
        "previous_valid_until": None,
    }
    assert result["key"].startswith("pk_live_") and result["key"] != tenant_key
    assert tenant_status(result["key"]) == 200
    assert tenant_status(tenant_key) == 401


def test_rotate_with_grace_keeps_the_old_key_until_the_grace_ends(tenant, tenant_key):
    # when
    before = timezone.now()
    result = run_json("rotate_api_key", "--tenant", tenant.slug, "--grace-hours", "24")
    after = timezone.now()

    # then
    until = dt.datetime.fromisoformat(result["previous_valid_until"])
    assert before + dt.timedelta(hours=24) <= until <= after + dt.timedelta(hours=24)
    assert tenant_status(tenant_key) == 200
    assert tenant_status(result["key"]) == 200
    old = ApiKey.objects.get(tenant=tenant, publishable_key=tenant_key)
    assert old.valid_until == until

    # when the grace period is over, the old key is refused
    ApiKey.objects.filter(pk=old.pk).update(valid_until=timezone.now())
    assert tenant_status(tenant_key) == 401
    assert tenant_status(result["key"]) == 200


def test_rotate_secret_key_leaves_publishable_keys_alone(tenant, tenant_key):
    result = run_json("rotate_api_key", "--tenant", tenant.slug, "--kind", "secret")

    assert result["kind"] == "secret"
    assert result["key"].startswith("sk_live_")
    assert result["previous_valid_until"] is None  # the fixture tenant had no secret key
    assert tenant_status(tenant_key) == 200
    assert ApiKey.objects.filter(tenant=tenant, kind="secret").count() == 1


def test_rotate_text_output(tenant, tenant_key):
    out = run("rotate_api_key", "--tenant", tenant.slug, "--grace-hours", "1.5")

    lines = out.splitlines()
    assert lines[0].startswith(f"New publishable key for {tenant.slug}: pk_live_")
    assert lines[1].startswith("Previous publishable keys keep working until ")


@pytest.mark.parametrize("hours", ["-1", "nan", "soon", "100000000"])
def test_rotate_refuses_bad_grace_hours(tenant, tenant_key, hours):
    with pytest.raises(CommandError, match="--grace-hours"):
        run("rotate_api_key", "--tenant", tenant.slug, "--grace-hours", hours)

    assert ApiKey.objects.filter(tenant=tenant).count() == 1
    assert tenant_status(tenant_key) == 200


def test_rotate_unknown_tenant_is_a_clear_error(tenant, tenant_key):
    with pytest.raises(CommandError, match="No tenant with slug 'nobody-here'"):
        run("rotate_api_key", "--tenant", "nobody-here")

    assert ApiKey.objects.count() == 1


# --- create_staff --------------------------------------------------------------


def test_create_staff_with_password_from_env(tenant, monkeypatch):
    # given
    monkeypatch.setenv("ALTAR_STAFF_PASSWORD", "a-Long-pass-2026")

    # when
    out = run(
        "create_staff", "--tenant", tenant.slug, "--email", "Kim@Example.com", "--role", "owner"
    )

    # then
    user = get_user_model().objects.get(email__iexact="kim@example.com")
    assert user.is_staff and not user.is_superuser
    assert user.check_password("a-Long-pass-2026")
    membership = TenantMembership.objects.get(user=user)
    assert (membership.tenant_id, membership.role) == (tenant.pk, "owner")
    assert "Password set from ALTAR_STAFF_PASSWORD." in out.splitlines()
    assert "a-Long-pass-2026" not in out


def test_create_staff_without_password_prints_a_reset_link(tenant, monkeypatch):
    monkeypatch.delenv("ALTAR_STAFF_PASSWORD", raising=False)

    out = run("create_staff", "--tenant", tenant.slug, "--email", "kim@example.com")

    user = get_user_model().objects.get(email="kim@example.com")
    assert not user.has_usable_password()
    assert TenantMembership.objects.get(user=user).role == "staff"
    reset = [line for line in out.splitlines() if line.startswith("Set a password")]
    assert len(reset) == 1
    assert f"{settings.PUBLIC_BASE_URL.rstrip('/')}/accounts/reset/" in reset[0]


def test_create_staff_links_an_existing_user_and_keeps_their_password(
    tenant, other_tenant, monkeypatch
):
    # given a user who already works for another tenant
    monkeypatch.delenv("ALTAR_STAFF_PASSWORD", raising=False)
    user = UserFactory(username="kim@example.com")
    TenantMembership.objects.create(tenant=other_tenant, user=user, role="owner")

    # when
    out = run("create_staff", "--tenant", tenant.slug, "--email", "kim@example.com")

    # then
    assert get_user_model().objects.count() == 1
    user.refresh_from_db()
    assert user.check_password("pw-Altar-2026")
    assert dict(TenantMembership.objects.filter(user=user).values_list("tenant__slug", "role")) == {
        other_tenant.slug: "owner",
        tenant.slug: "staff",
    }
    assert out.splitlines()[0] == f"Linked existing user kim@example.com to {tenant.slug} as staff."
    assert "The user keeps their existing password." in out.splitlines()


def test_create_staff_again_changes_the_role(tenant, monkeypatch):
    monkeypatch.setenv("ALTAR_STAFF_PASSWORD", "a-Long-pass-2026")
    run("create_staff", "--tenant", tenant.slug, "--email", "kim@example.com")

    run("create_staff", "--tenant", tenant.slug, "--email", "kim@example.com", "--role", "owner")

    assert get_user_model().objects.count() == 1
    assert list(TenantMembership.objects.values_list("role", flat=True)) == ["owner"]


def test_create_staff_unknown_tenant_is_a_clear_error(db, monkeypatch):
    monkeypatch.setenv("ALTAR_STAFF_PASSWORD", "a-Long-pass-2026")

    with pytest.raises(CommandError, match="No tenant with slug 'nobody-here'"):
        run("create_staff", "--tenant", "nobody-here", "--email", "kim@example.com")

    assert get_user_model().objects.count() == 0


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (["--email", "not-an-email"], "Not a valid e-mail address"),
        (["--email", "kim@example.com", "--role", "boss"], "argument --role: invalid choice"),
    ],
)
def test_create_staff_refuses_bad_arguments(tenant, monkeypatch, args, match):
    monkeypatch.setenv("ALTAR_STAFF_PASSWORD", "a-Long-pass-2026")

    with pytest.raises(CommandError, match=match):
        run("create_staff", "--tenant", tenant.slug, *args)

    assert get_user_model().objects.count() == 0
    assert TenantMembership.objects.count() == 0
