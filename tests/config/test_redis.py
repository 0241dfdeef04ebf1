"""With REDIS_URL, the catalog cache and the API throttles live in Redis
(shared by every process and host); if Redis goes down the API keeps
serving: cache misses fall through to the database and throttling degrades
(no limit) instead of failing."""

from __future__ import annotations

import pytest
import redis
from rest_framework.throttling import SimpleRateThrottle

from tests.factories import PackageFactory

pytestmark = pytest.mark.django_db

REDIS_DB = 13  # this suite's own database number on the local Redis


def use_redis(settings, location: str) -> None:
    settings.REDIS_URL = location
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": location,
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.5},
        }
    }


@pytest.fixture
def shared_redis(settings, worker_id):
    # One Redis database per xdist worker would need 16+ numbers; a key
    # prefix per worker keeps parallel runs apart instead.
    use_redis(settings, f"redis://127.0.0.1:6379/{REDIS_DB}")
    settings.CACHES["default"]["KEY_PREFIX"] = f"altar-test-{worker_id}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    yield client
    for key in client.scan_iter(f"altar-test-{worker_id}:*"):
        client.delete(key)


def test_catalog_cache_and_throttles_are_stored_in_redis(
    tenant, tenant_api, shared_redis, worker_id
):
    PackageFactory(tenant=tenant, slug="sunrise")

    assert tenant_api.get("/api/v1/packages").status_code == 200

    keys = {key.decode() for key in shared_redis.scan_iter(f"altar-test-{worker_id}:*")}
    assert any(f":altar:catalog:v1:{tenant.pk}:" in key for key in keys)
    assert any("throttle_client_ip" in key for key in keys)
    assert any("throttle_tenant_key_client" in key for key in keys)
    assert any("throttle_tenant_key_" in key and "client" not in key for key in keys)


def test_throttle_limits_hold_through_the_shared_store(
    tenant, tenant_api, shared_redis, monkeypatch
):
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"tenant_key": "100/day", "tenant_key_client": "2/day", "client_ip": "100/day"},
    )

    statuses = [tenant_api.get("/api/v1/tenant").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_redis_down_keeps_the_api_serving_without_limits(tenant, tenant_api, settings, monkeypatch):
    use_redis(settings, "redis://127.0.0.1:1/0")  # nothing listens there
    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"tenant_key": "2/day", "tenant_key_client": "2/day", "client_ip": "2/day"},
    )
    PackageFactory(tenant=tenant, slug="sunrise")

    responses = [tenant_api.get("/api/v1/packages") for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 200]
    assert [p["slug"] for p in responses[-1].json()["results"]] == ["sunrise"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_requests_share_one_exact_limit(shared_redis, monkeypatch):
    from collections import Counter

    from rest_framework.test import APIClient

    from tests.concurrency import run_together
    from tests.conftest import publishable_key_for
    from tests.factories import TenantFactory

    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"tenant_key": "1000/day", "tenant_key_client": "5/day", "client_ip": "1000/day"},
    )
    key = publishable_key_for(TenantFactory())

    def call():
        client = APIClient()
        client.credentials(HTTP_X_TENANT_KEY=key)
        return client.get("/api/v1/tenant").status_code

    statuses = run_together([call] * 20)

    assert Counter(statuses) == {200: 5, 429: 15}


@pytest.mark.django_db(transaction=True)
def test_concurrent_clients_of_one_key_each_get_their_own_exact_budget(shared_redis, monkeypatch):
    from collections import Counter

    from rest_framework.test import APIClient

    from tests.concurrency import run_together
    from tests.conftest import publishable_key_for
    from tests.factories import TenantFactory

    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"tenant_key": "1000/day", "tenant_key_client": "3/day", "client_ip": "1000/day"},
    )
    key = publishable_key_for(TenantFactory())

    def call_from(address):
        def call():
            client = APIClient(REMOTE_ADDR=address)
            client.credentials(HTTP_X_TENANT_KEY=key)
            return address, client.get("/api/v1/tenant").status_code

        return call

    results = run_together([call_from("203.0.113.1")] * 10 + [call_from("198.51.100.2")] * 10)

    assert Counter(results) == {
        ("203.0.113.1", 200): 3,
        ("203.0.113.1", 429): 7,
        ("198.51.100.2", 200): 3,
        ("198.51.100.2", 429): 7,
    }


# --- the gate: one Redis round trip, key state with a revocation epoch ------


@pytest.fixture
def gate_redis(shared_redis):
    from tenants.api import gate

    gate.forget_all()
    yield shared_redis
    gate.forget_all()


@pytest.fixture
def redis_round_trips(monkeypatch):
    """Counts commands (pipelines: one each) sent to any Redis server."""
    from redis.connection import AbstractConnection

    sent = []
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


def test_warm_keyed_request_is_one_redis_round_trip_and_no_query(
    tenant, tenant_api, gate_redis, redis_round_trips, django_assert_num_queries
):
    assert tenant_api.get("/api/v1/tenant").status_code == 200  # resolves the key
    redis_round_trips.clear()

    with django_assert_num_queries(0):
        response = tenant_api.get("/api/v1/tenant")

    assert response.status_code == 200
    assert response.json()["slug"] == tenant.slug
    assert len(redis_round_trips) == 1


def test_revoked_key_is_refused_on_the_next_request(
    tenant, tenant_api, gate_redis, django_capture_on_commit_callbacks
):
    from tenants.models import ApiKey
    from tenants.scoping import scopes_disabled
    from tenants.services import api_key_revoke

    assert tenant_api.get("/api/v1/tenant").status_code == 200
    assert tenant_api.get("/api/v1/tenant").status_code == 200  # from the kept state
    with scopes_disabled():
        api_key = ApiKey.objects.get(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE)
    with django_capture_on_commit_callbacks(execute=True):
        api_key_revoke(tenant=tenant, api_key=api_key)

    response = tenant_api.get("/api/v1/tenant")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "tenant_key_invalid"


def test_deactivated_tenant_is_refused_on_the_next_request(
    tenant, tenant_api, gate_redis, django_capture_on_commit_callbacks
):
    assert tenant_api.get("/api/v1/tenant").status_code == 200
    assert tenant_api.get("/api/v1/tenant").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        tenant.active = False
        tenant.save(update_fields=["active"])

    response = tenant_api.get("/api/v1/tenant")

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "tenant_inactive"


def test_catalog_change_is_served_on_the_next_request(
    tenant, tenant_api, gate_redis, django_capture_on_commit_callbacks
):
    from catalog import services as catalog
    from tenants.scoping import tenant_scope

    PackageFactory(tenant=tenant, slug="sunrise")
    assert [p["slug"] for p in tenant_api.get("/api/v1/packages").json()["results"]] == ["sunrise"]
    assert tenant_api.get("/api/v1/packages").status_code == 200  # warm
    with django_capture_on_commit_callbacks(execute=True), tenant_scope(tenant):
        catalog.package_create(tenant=tenant, slug="sunset", title="Sunset", price_cents=1000)

    slugs = [p["slug"] for p in tenant_api.get("/api/v1/packages").json()["results"]]

    assert sorted(slugs) == ["sunrise", "sunset"]


def test_gate_throttles_in_the_same_order_per_client(tenant_key, gate_redis, monkeypatch):
    from rest_framework.test import APIClient

    monkeypatch.setattr(
        SimpleRateThrottle,
        "THROTTLE_RATES",
        {"tenant_key": "100/day", "tenant_key_client": "3/day", "client_ip": "100/day"},
    )
    first, second = APIClient(REMOTE_ADDR="203.0.113.1"), APIClient(REMOTE_ADDR="203.0.113.2")
    for client in (first, second):
        client.credentials(HTTP_X_TENANT_KEY=tenant_key)

    statuses = [first.get("/api/v1/tenant").status_code for _ in range(4)]
    other = second.get("/api/v1/tenant")

    assert statuses == [200, 200, 200, 429]
    assert int(first.get("/api/v1/tenant")["Retry-After"]) >= 1
    assert other.status_code == 200


def test_warm_package_list_is_one_redis_round_trip_and_no_query(
    tenant, tenant_api, gate_redis, redis_round_trips, django_assert_num_queries
):
    PackageFactory(tenant=tenant, slug="sunrise")
    assert tenant_api.get("/api/v1/packages").status_code == 200  # fills both caches
    redis_round_trips.clear()

    with django_assert_num_queries(0):
        response = tenant_api.get("/api/v1/packages")

    assert [p["slug"] for p in response.json()["results"]] == ["sunrise"]
    assert len(redis_round_trips) == 1  # the gate's; the catalog came from this process
