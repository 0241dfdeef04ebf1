"""Production settings (API.md §4): no start without a real secret key, and a
clean `manage.py check --deploy` with a production-like environment.

These run the real entry points in a subprocess with an environment built
from scratch, since settings are read once per process.
"""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection

from tests.conftest import REAL_SECRET, run_python

SECRET_MESSAGE = (
    "DJANGO_SECRET_KEY must be set to a random value of at least 50 characters "
    "when DJANGO_DEBUG is off."
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


EMAIL_MESSAGE = (
    "EMAIL_URL must be set when DJANGO_DEBUG is off "
    "(e.g. smtp+tls://user:password@smtp.example.com:587)."
)


@pytest.mark.parametrize(
    ("entry_point", "last_line"),
    [
        (["-c", "import django; django.setup()"], "django.core.exceptions.ImproperlyConfigured"),
        # manage.py says it in one line (see manage.py)
        (["manage.py", "check"], "Configuration error"),
        # what gunicorn loads (config/gunicorn.py serves config.wsgi)
        (["-c", "import config.wsgi"], "django.core.exceptions.ImproperlyConfigured"),
    ],
    ids=["setup", "manage.py", "wsgi"],
)
@pytest.mark.parametrize("email_url", [None, ""], ids=["unset", "empty"])
def test_production_refuses_to_start_without_a_mail_server(entry_point, last_line, email_url):
    env = {"DJANGO_SECRET_KEY": REAL_SECRET}
    if email_url is not None:
        env["EMAIL_URL"] = email_url

    result = run_python(entry_point, **env)

    assert result.returncode != 0
    assert result.stdout == ""
    assert result.stderr.strip().splitlines()[-1] == f"{last_line}: {EMAIL_MESSAGE}"


def test_production_starts_with_a_mail_server():
    result = run_python(
        [
            "-c",
            "from django.conf import settings; import django; django.setup(); "
            "print(settings.EMAIL_BACKEND, settings.EMAIL_HOST, settings.EMAIL_PORT)",
        ],
        DJANGO_SECRET_KEY=REAL_SECRET,
        EMAIL_URL="smtp+tls://mailer:secret@smtp.example.com:587",
        STRIPE_SECRET_KEY="sk_live_" + "0" * 20,
    )

    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.split() == [
        "django.core.mail.backends.smtp.EmailBackend",
        "smtp.example.com",
        "587",
    ]


def test_a_short_readyz_token_stops_the_process():
    result = run_python(
        ["-c", "import django; django.setup()"], DJANGO_DEBUG="true", READYZ_TOKEN="short-token"
    )

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "django.core.exceptions.ImproperlyConfigured: "
        "READYZ_TOKEN must be at least 32 characters (or unset)."
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
        EMAIL_URL="smtp+tls://mailer:secret@smtp.example.com:587",
        # Media in a bucket shared by every host (not contacted by the checks).
        AWS_STORAGE_BUCKET_NAME="altar-media",
        AWS_S3_REGION_NAME="eu-west-1",
        AWS_S3_CUSTOM_DOMAIN="media.altar.example",
    )

    # then
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert "WARNING" not in result.stderr


STRIPE_KEY_MESSAGE = "STRIPE_SECRET_KEY must be set when DJANGO_DEBUG is off."
STANDIN_BASE_MESSAGE = (
    "STRIPE_API_BASE is 'http://127.0.0.1:12111'; with DJANGO_DEBUG off it must be "
    "https://api.stripe.com (unset it; local runs with the stand-in set DJANGO_DEBUG=true)."
)
PRODUCTION = {
    "DJANGO_SECRET_KEY": REAL_SECRET,
    "ALLOWED_HOSTS": "bookings.altar.example",
    "EMAIL_URL": "smtp+tls://mailer:secret@smtp.example.com:587",
}
GUNICORN = ["-m", "gunicorn", "--check-config", "-c", "config/gunicorn.py", "config.wsgi"]


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STRIPE_API_BASE": "https://api.stripe.com"}, STRIPE_KEY_MESSAGE),
        (
            {
                "STRIPE_SECRET_KEY": "sk_live_" + "0" * 20,
                "STRIPE_API_BASE": "http://127.0.0.1:12111",
            },
            STANDIN_BASE_MESSAGE,
        ),
    ],
    ids=["no-stripe-key", "stand-in-base"],
)
@pytest.mark.parametrize(
    ("entry_point", "prefix"),
    [
        (["manage.py", "check", "--deploy"], "Configuration error: "),
        (["manage.py", "migrate", "--check"], "Configuration error: "),
        # --check-config loads the WSGI application as a worker would.
        (GUNICORN, "django.core.exceptions.ImproperlyConfigured: "),
    ],
    ids=["manage-check", "manage-migrate", "gunicorn"],
)
def test_production_refuses_to_start_without_stripe_key_or_with_a_non_stripe_base(
    env, message, entry_point, prefix
):
    result = run_python(entry_point, **PRODUCTION, **env)

    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == prefix + message


def test_migrations_are_checked_on_a_fresh_checkout_without_secrets():
    """`makemigrations --check` only compares models with migration files:
    no secret is needed (CI and review hooks run it with nothing set), while
    every other command still refuses (the tests above)."""
    result = run_python(["manage.py", "makemigrations", "--check", "--dry-run"])

    assert (result.returncode, result.stdout.strip()) == (0, "No changes detected")


def test_gunicorn_starts_with_a_production_environment():
    result = run_python(GUNICORN, **PRODUCTION, STRIPE_SECRET_KEY="sk_live_" + "0" * 20)

    assert result.returncode == 0, result.stderr
    assert "ImproperlyConfigured" not in result.stderr


def test_the_stand_in_base_is_allowed_only_when_said_explicitly():
    result = run_python(
        ["-c", "import django; django.setup()"],
        **PRODUCTION,
        STRIPE_SECRET_KEY="sk_test_" + "0" * 20,
        STRIPE_API_BASE="http://127.0.0.1:12111",
        STRIPE_API_BASE_ALLOW_ANY="true",
    )

    assert (result.returncode, result.stderr) == (0, "")


def test_database_uses_the_connection_pool():
    database = settings.DATABASES["default"]

    assert database["ENGINE"] == "config.db_engine"  # PostgreSQL plus on_rollback
    assert set(database["OPTIONS"]["pool"]) == {"min_size", "max_size", "timeout"}
    assert database["OPTIONS"]["pool"]["min_size"] == 1  # DB_POOL_MIN_SIZE's default
    # Django refuses persistent connections together with a pool.
    assert database["CONN_MAX_AGE"] == 0
