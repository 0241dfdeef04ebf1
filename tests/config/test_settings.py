"""Production settings (API.md §4): no start without a real secret key, and a
clean `manage.py check --deploy` with a production-like environment.

These run the real entry points in a subprocess with an environment built
from scratch, since settings are read once per process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
REAL_SECRET = "q8Zr3vN-" + "kT7pW2xL9mB4cF6hJ1sD5gA0eY" * 2 + "_uI"
SECRET_MESSAGE = (
    "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters "
    "when DJANGO_DEBUG is off."
)


def run_python(args: list[str], **env: str) -> subprocess.CompletedProcess:
    # Only what a fresh shell would have, plus the variables under test:
    # nothing from the test run's own settings leaks in.
    base = {key: os.environ[key] for key in ("PATH", "HOME", "LANG") if key in os.environ}
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env={**base, "DJANGO_SETTINGS_MODULE": "config.settings", **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize(
    "env",
    [
        {},  # DJANGO_DEBUG unset: production is the default
        {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": ""},
        {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "too-short-1234"},
        {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "django-insecure-" + "a1b2c3d4e5" * 5},
        {"DJANGO_DEBUG": "false", "DJANGO_SECRET_KEY": "a" * 60},
    ],
    ids=["unset", "empty", "short", "django-insecure", "one-character"],
)
def test_production_refuses_to_start_without_a_real_secret_key(env):
    result = run_python(["-c", "import django; django.setup()"], **env)

    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == (
        f"django.core.exceptions.ImproperlyConfigured: {SECRET_MESSAGE}"
    )


def test_development_starts_without_a_secret_key():
    result = run_python(["-c", "import django; django.setup()"], DJANGO_DEBUG="true")

    assert (result.returncode, result.stderr) == (0, "")


@pytest.mark.django_db
def test_check_deploy_passes_with_a_production_environment():
    # given a production-like environment; the database is this test's own,
    # which dj-stripe's checks read.
    db = connection.settings_dict
    database_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"

    # when
    result = run_python(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DJANGO_SECRET_KEY=REAL_SECRET,
        ALLOWED_HOSTS="bookings.altar.example",
        DATABASE_URL=database_url,
        STRIPE_SECRET_KEY="sk_live_" + "51AltarDeployCheck" + "0" * 20,
        STRIPE_API_BASE="https://api.stripe.com",
        # Media in a bucket shared by every host (not contacted by the checks).
        AWS_STORAGE_BUCKET_NAME="altar-media",
        AWS_S3_REGION_NAME="eu-west-1",
        AWS_S3_CUSTOM_DOMAIN="media.altar.example",
    )

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert "WARNING" not in result.stderr


def test_check_deploy_refuses_a_stripe_stand_in_in_production(db):
    db_settings = connection.settings_dict
    database_url = (
        f"postgres://{db_settings['USER']}@{db_settings['HOST']}:{db_settings['PORT']}"
        f"/{db_settings['NAME']}"
    )

    result = run_python(
        ["manage.py", "check", "--deploy"],
        DJANGO_SECRET_KEY=REAL_SECRET,
        ALLOWED_HOSTS="bookings.altar.example",
        DATABASE_URL=database_url,
        STRIPE_SECRET_KEY="sk_live_" + "0" * 20,
        STRIPE_API_BASE="http://127.0.0.1:12111",
    )

    assert result.returncode != 0
    assert "altar.E001" in result.stderr


def test_database_uses_the_connection_pool():
    database = settings.DATABASES["default"]

    assert database["ENGINE"] == "config.db_engine"  # PostgreSQL plus on_rollback
    assert set(database["OPTIONS"]["pool"]) == {"min_size", "max_size", "timeout"}
    assert database["OPTIONS"]["pool"]["min_size"] == 1  # DB_POOL_MIN_SIZE's default
    # Django refuses persistent connections together with a pool.
    assert database["CONN_MAX_AGE"] == 0
