"""Inputs at the edges of what the API represents (issue 10 items 6 and 7):
the first and last dates Python has, bodies nested deeper than any real
one, routes that do not exist in debug mode. Each answered in the
contract's shape, never a 500 or an HTML page."""

from __future__ import annotations

import pytest

from bookings.models import Booking
from tests.conftest import assert_error
from tests.factories import checkout_body, make_catalog

pytestmark = pytest.mark.django_db


@pytest.fixture
def shop(tenant):
    return make_catalog(tenant)


# --- dates at the ends of the calendar ------------------------------------------


@pytest.mark.parametrize(("day", "reason"), [("9999-12-31", "too_far"), ("0001-01-01", "past")])
def test_availability_of_the_first_and_last_dates(tenant_api, day, reason):
    response = tenant_api.get(f"/api/v1/availability/{day}")

    assert response.status_code == 200
    assert response.json() == {"date": day, "available": False, "reason": reason}


@pytest.mark.parametrize(
    ("start", "end", "reason"),
    [("9999-12-01", "9999-12-31", "too_far"), ("0001-01-01", "0001-01-31", "past")],
)
def test_availability_range_at_the_ends_of_the_calendar(tenant_api, start, end, reason):
    response = tenant_api.get("/api/v1/availability", {"start": start, "end": end})

    assert response.status_code == 200
    body = response.json()
    assert (body["start"], body["end"]) == (start, end)
    assert [entry["reason"] for entry in body["unavailable"]] == [reason] * 31
    assert (body["unavailable"][0]["date"], body["unavailable"][-1]["date"]) == (start, end)


def test_checkout_for_the_last_date_is_refused_as_too_far(tenant_api, shop, unscoped):
    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(event_date="9999-12-31"), format="json"
    )

    error = assert_error(response, 409, "date_unavailable")
    assert error["fields"]["event_date"][0]["code"] == "too_far"
    assert Booking.objects.count() == 0


# --- bodies nested deeper than any real one ---------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "[" * 5000 + "]" * 5000,
        '{"a":' * 5000 + "1" + "}" * 5000,
        # parses in Python, then refused by the depth check
        '{"package": "elopement", "notes": ' + "[" * 33 + "]" * 33 + "}",
    ],
    ids=["array-5000", "object-5000", "field-33"],
)
def test_deeply_nested_body_is_400_validation_error_and_holds_nothing(
    tenant_api, shop, unscoped, body
):
    response = tenant_api.post("/api/v1/checkout", data=body, content_type="application/json")

    error = assert_error(response, 400, "validation_error")
    assert [e["code"] for e in error["fields"]["body"]] == ["parse_error"]
    assert Booking.objects.count() == 0


def test_body_nested_within_the_limit_reaches_validation(tenant_api, shop, unscoped):
    body = '{"package": "elopement", "notes": ' + "[" * 31 + "]" * 31 + "}"

    response = tenant_api.post("/api/v1/checkout", data=body, content_type="application/json")

    error = assert_error(response, 400, "validation_error")
    assert [e["code"] for e in error["fields"]["notes"]] == ["invalid"]


# --- unknown routes in debug mode (`make run`) ---------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/nope",
        "/api/v1/nope",
        "/api/v1/packages/",  # the trailing slash the routes do not have
        "/api/v1/availability/",
        "/api/schema/nope",
        "/stripe/webhook/not-a-uuid/",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_unknown_api_route_in_debug_mode_is_json_404(tenant_api, settings, path, method):
    settings.DEBUG = True

    response = getattr(tenant_api, method)(path)

    error = assert_error(response, 404, "not_found")
    assert error["fields"] == {}
    assert b"<html" not in response.content.lower()


def test_html_pages_keep_djangos_404_in_debug_mode(client, settings):
    settings.DEBUG = True

    response = client.get("/nope")

    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
