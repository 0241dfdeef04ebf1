"""One error shape everywhere (API.md §1 "Errors"), through the catalog
endpoints: routing, methods, bodies, paging, throttling, crashes."""

from __future__ import annotations

import logging

import pytest
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from bookings.models import Booking
from catalog import services
from tenants.keys import generate_key
from tenants.scoping import tenant_scope
from tests.conftest import assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def classic(tenant):
    with tenant_scope(tenant):
        services.package_create(tenant=tenant, slug="classic", title="Classic", price_cents=1_000)


# --- routing, methods, bodies ---------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/nope", "/api/v1/packages/a/b"])
def test_unknown_api_route_is_404_not_found(tenant_api, path):
    error = assert_error(tenant_api.get(path), 404, "not_found")

    assert error["fields"] == {}


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
@pytest.mark.parametrize("path", ["/api/v1/packages", "/api/v1/packages/classic"])
def test_writing_the_catalog_is_405_method_not_allowed(tenant_api, classic, method, path):
    response = getattr(tenant_api, method)(path, {"slug": "x"}, format="json")

    assert_error(response, 405, "method_not_allowed")
    assert response["Allow"] == "GET, HEAD, OPTIONS"


def test_unparseable_json_is_400_validation_error_and_holds_nothing(tenant_api, classic, unscoped):
    response = tenant_api.post(
        "/api/v1/checkout", data='{"package": "classic",', content_type="application/json"
    )

    error = assert_error(response, 400, "validation_error")
    assert [e["code"] for e in error["fields"]["body"]] == ["parse_error"]
    assert Booking.objects.count() == 0


# --- paging --------------------------------------------------------------------------


def test_huge_page_number_is_404_not_found_not_500(tenant_api, classic):
    response = tenant_api.get("/api/v1/packages?page=99999999999999999999")

    assert_error(response, 404, "not_found")


def test_negative_page_is_400_validation_error(tenant_api, classic):
    error = assert_error(tenant_api.get("/api/v1/packages?page=-3"), 400, "validation_error")

    assert [e["code"] for e in error["fields"]["page"]] == ["min_value"]


def test_huge_page_size_is_400_validation_error(tenant_api, classic):
    response = tenant_api.get("/api/v1/packages?page_size=99999999999999999999")

    error = assert_error(response, 400, "validation_error")
    assert [e["code"] for e in error["fields"]["page_size"]] == ["max_value"]


# --- throttling -------------------------------------------------------------------------


@pytest.fixture
def rates(monkeypatch):
    """Set throttle rates for one test. DRF copies DEFAULT_THROTTLE_RATES into
    SimpleRateThrottle.THROTTLE_RATES at import, so overriding the setting
    alone would not reach the throttles. Per day: no clock in the test."""

    def set_rates(
        *,
        per_key: str = "100000/day",
        per_key_client: str = "100000/day",
        per_ip: str = "100000/day",
    ) -> None:
        monkeypatch.setattr(
            SimpleRateThrottle,
            "THROTTLE_RATES",
            {"tenant_key": per_key, "tenant_key_client": per_key_client, "client_ip": per_ip},
        )

    return set_rates


def _assert_throttled(response) -> None:
    assert_error(response, 429, "rate_limited")
    assert 0 < int(response["Retry-After"]) <= 86_400


def keyed_client(key: str, address: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_X_TENANT_KEY=key)
    return client


def test_throttled_per_key_and_client(rates, tenant_api, other_tenant_api, classic):
    # given two requests per key per client per day
    rates(per_key_client="2/day")

    # when the tenant's key makes a third request from the same client
    answers = [tenant_api.get("/api/v1/packages").status_code for _ in range(2)]
    third = tenant_api.get("/api/v1/packages/classic")

    # then it is throttled, while another key from the same address is not
    assert answers == [200, 200]
    _assert_throttled(third)
    assert other_tenant_api.get("/api/v1/packages").status_code == 200


def test_one_client_spending_its_budget_does_not_lock_out_the_keys_other_clients(
    rates, tenant_key, classic
):
    # given 3 requests per client of a key, and the key's ceiling far above
    rates(per_key_client="3/day", per_key="100/day")
    abuser = keyed_client(tenant_key, "203.0.113.10")
    couple = keyed_client(tenant_key, "198.51.100.20")

    # when one client sends 10 requests, then another client of the same key 3
    abuser_answers = [abuser.get("/api/v1/packages").status_code for _ in range(10)]
    couple_answers = [couple.get("/api/v1/packages").status_code for _ in range(4)]

    # then each is served its own 3 and refused after that
    assert abuser_answers == [200] * 3 + [429] * 7
    assert couple_answers == [200] * 3 + [429]


def test_per_key_ceiling_is_a_circuit_breaker_across_clients(rates, tenant_key, classic):
    # given a ceiling of 4 requests per key, above each client's own 3
    rates(per_key_client="3/day", per_key="4/day")
    first = keyed_client(tenant_key, "203.0.113.11")
    second = keyed_client(tenant_key, "198.51.100.21")
    third = keyed_client(tenant_key, "192.0.2.31")

    # when three clients share the key; the first goes over its own limit
    answers = [first.get("/api/v1/packages").status_code for _ in range(4)]
    answers += [second.get("/api/v1/packages").status_code for _ in range(2)]
    answers += [third.get("/api/v1/packages").status_code]

    # then the first client's refused request did not count towards the
    # ceiling (3 + 1 served), and the key is refused to everyone past it
    assert answers == [200, 200, 200, 429, 200, 429, 429]
    _assert_throttled(third.get("/api/v1/packages"))


def test_ipv6_clients_are_counted_per_64(rates, tenant_key, classic):
    # given 2 requests per client; one subscriber rotating through its /64
    rates(per_key_client="2/day")
    rotating = [keyed_client(tenant_key, f"2001:db8:1:2::{n}") for n in range(1, 4)]
    neighbour = keyed_client(tenant_key, "2001:db8:1:3::1")

    answers = [client.get("/api/v1/packages").status_code for client in rotating]

    assert answers == [200, 200, 429]
    assert neighbour.get("/api/v1/packages").status_code == 200


def test_throttled_per_ip(rates, tenant_key, classic):
    # given two requests per client address per day
    rates(per_ip="2/day")
    client = APIClient(REMOTE_ADDR="203.0.113.7")
    client.credentials(HTTP_X_TENANT_KEY=tenant_key)
    elsewhere = APIClient(REMOTE_ADDR="198.51.100.9")
    elsewhere.credentials(HTTP_X_TENANT_KEY=tenant_key)

    # when one address makes a third request, with the same key
    answers = [client.get("/api/v1/packages").status_code for _ in range(2)]
    third = client.get("/api/v1/packages")

    # then it is throttled, while the same key from another address is not
    assert answers == [200, 200]
    _assert_throttled(third)
    assert elsewhere.get("/api/v1/packages").status_code == 200


def test_requests_with_bad_keys_count_against_the_ip(rates, tenant_key, classic):
    # given two requests per address, spent guessing keys
    rates(per_ip="2/day")
    guesser = APIClient(REMOTE_ADDR="203.0.113.8")
    guesses = []
    for _ in range(2):
        guesser.credentials(HTTP_X_TENANT_KEY=generate_key("publishable"))
        guesses.append(guesser.get("/api/v1/packages").status_code)

    # when the address then guesses again, and when it presents a real key
    guesser.credentials(HTTP_X_TENANT_KEY=generate_key("publishable"))
    wrong = guesser.get("/api/v1/packages")
    guesser.credentials(HTTP_X_TENANT_KEY=tenant_key)
    right = guesser.get("/api/v1/packages")

    # then both answer 429: no key is checked (nor told apart) past the limit
    assert guesses == [401, 401]
    _assert_throttled(wrong)
    _assert_throttled(right)


def test_over_the_ip_limit_no_key_is_looked_up(
    rates, tenant_key, classic, django_assert_num_queries
):
    rates(per_ip="1/day")
    client = APIClient(REMOTE_ADDR="203.0.113.9")
    client.credentials(HTTP_X_TENANT_KEY=tenant_key)
    assert client.get("/api/v1/packages").status_code == 200

    with django_assert_num_queries(0):
        _assert_throttled(client.get("/api/v1/packages"))


# --- crashes -------------------------------------------------------------------------------


def test_unexpected_exception_is_500_internal_error_without_details(
    tenant_api, classic, monkeypatch, caplog
):
    # given the catalog read fails in a way nobody planned for
    def broken(**kwargs):
        raise RuntimeError("secret detail: couple@example.com")

    monkeypatch.setattr("catalog.api.views.catalog_package_list_cached", broken)

    # when
    with caplog.at_level(logging.ERROR, logger="altar.errors"):
        response = tenant_api.get("/api/v1/packages")

    # then the body says only internal_error; the log has the traceback
    error = assert_error(response, 500, "internal_error")
    assert error == {"code": "internal_error", "message": "Internal error.", "fields": {}}
    assert b"secret" not in response.content
    assert b"Traceback" not in response.content
    assert b"RuntimeError" not in response.content
    [record] = [r for r in caplog.records if r.name == "altar.errors"]
    assert record.exc_info is not None and record.exc_info[0] is RuntimeError
