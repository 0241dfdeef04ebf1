"""/readyz: database, migrations, and Redis when configured; connection
figures only for callers presenting the ops token (READYZ_TOKEN)."""

from __future__ import annotations

import pytest
from django.db import connection

pytestmark = pytest.mark.django_db

OPS_TOKEN = "ops-" + "r7Kq2xWm9Lp4" * 3


@pytest.fixture
def ops_token(settings) -> str:
    settings.READYZ_TOKEN = OPS_TOKEN
    return OPS_TOKEN


def redis_cache(location: str) -> dict:
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.5},
        }
    }


def test_ready_when_database_is_up_and_migrated_and_no_figures_without_token(client, ops_token):
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}
    assert response["Cache-Control"] == "no-store"


def test_ops_token_gets_the_connection_figures(client, ops_token):
    response = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {ops_token}")

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["checks"]) == ("ok", {"database": "ok", "migrations": "ok"})
    connections = body["details"]["connections"]
    assert connections["pool_max_per_process"] == 20  # DB_POOL_MAX_SIZE in test settings
    assert 1 <= connections["in_use_here"] <= connections["in_use"] < connections["max_connections"]


def test_not_ready_while_migrations_are_pending(client):
    with connection.cursor() as cursor:
        # The newest bookings migration "not yet applied", as in a deploy
        # whose code is ahead of `migrate`.
        cursor.execute(
            "DELETE FROM django_migrations WHERE id = "
            "(SELECT max(id) FROM django_migrations WHERE app = 'bookings')"
        )

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert response.json()["checks"] == {"database": "ok", "migrations": "pending"}


def test_redis_is_checked_when_configured(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:6379/15"
    settings.CACHES = redis_cache(settings.REDIS_URL)

    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == "ok"


def test_redis_down_makes_it_unready(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    settings.CACHES = redis_cache(settings.REDIS_URL)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"] == {
        "database": "ok",
        "migrations": "ok",
        "redis": "unavailable",
    }


def test_database_down_is_503_quickly(client, monkeypatch):
    from django.db import connections

    # The probe connects on its own: point it at a closed port.
    monkeypatch.setitem(connections["default"].settings_dict, "PORT", "1")

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "unavailable"}}


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {OPS_TOKEN}x",  # one character more
        f"Bearer {OPS_TOKEN[:-1]}",  # one character less
        f"Basic {OPS_TOKEN}",  # the right secret, the wrong scheme
        f"Bearer {OPS_TOKEN.upper()}",
        "Bearer ",
        OPS_TOKEN,
    ],
    ids=["longer", "shorter", "basic", "upper-case", "empty", "no-scheme"],
)
def test_a_wrong_token_gets_the_status_only(client, ops_token, authorization):
    response = client.get("/readyz", HTTP_AUTHORIZATION=authorization)

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}


def test_without_a_configured_token_nobody_gets_the_figures(client, settings):
    settings.READYZ_TOKEN = ""

    response = client.get("/readyz", HTTP_AUTHORIZATION="Bearer ")

    assert response.status_code == 200
    assert "details" not in response.json()


def test_database_down_is_503_with_the_ops_token_too(client, monkeypatch, ops_token):
    from django.db import connections

    monkeypatch.setitem(connections["default"].settings_dict, "PORT", "1")

    response = client.get("/readyz", HTTP_AUTHORIZATION=f"Bearer {ops_token}")

    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "unavailable"}}
