"""Schemathesis against /api/schema/ (issue 6 item 6): every operation of the
public API, in-process through the Django WSGI app, with a valid tenant key.

Given the schema the API publishes, when schemathesis sends generated
requests (valid and invalid ones, a bounded deterministic set per operation),
then no response is a 5xx and every response matches the schema.
"""

from __future__ import annotations

import datetime as dt

import pytest
import schemathesis
from django.core import signals
from django.db import close_old_connections
from django_scopes import scopes_disabled
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from config.wsgi import application
from tests.factories import (
    AddOnFactory,
    BlackoutDateFactory,
    BookingFactory,
    PackageAddOnFactory,
    PackageFactory,
)


@pytest.fixture
def _keep_test_connection():
    # Requests go straight to the WSGI app, not through Django's test Client,
    # so Django's request_started/finished handlers would close the test's
    # connection mid-transaction; the test Client disconnects them the same way.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


# Dates at the ends of what Python (and PostgreSQL's `date` in Django) can
# hold, and next to them: each once crashed a view (issue 10 item 6) by
# stepping one day or one month past 9999-12-31 or before 0001-01-01. Drawn
# two times in three, so every date parameter meets them within the
# bounded example set; the rest are any valid date.
EDGE_DATES = [
    dt.date.min,
    dt.date.min + dt.timedelta(days=30),
    dt.date(9999, 12, 1),
    dt.date.max - dt.timedelta(days=1),
    dt.date.max,
]
schemathesis.openapi.format(
    "date",
    st.one_of(st.sampled_from(EDGE_DATES), st.sampled_from(EDGE_DATES), st.dates()).map(
        dt.date.isoformat
    ),
)

# Loaded at collection: the schema view touches no database. (The lazy
# `schemathesis.pytest.from_fixture` loader breaks on pytest 9: it sets
# `Function._nodeid`, which pytest no longer has.)
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def catalog_with_bookings(tenant):
    """Something for the reads to return: packages with add-ons, a booking, a
    blackout. Unscoped only while creating them: the requests must run with
    the fail-closed scoping the API really has."""
    with scopes_disabled():
        package = PackageFactory(tenant=tenant, slug="classic")
        PackageAddOnFactory(tenant=tenant, package=package, add_on=AddOnFactory(tenant=tenant))
        PackageFactory(tenant=tenant, slug="grand")
        BookingFactory(tenant=tenant, package=package)
        BlackoutDateFactory(tenant=tenant)


@schema.parametrize()
# Deterministic and bounded: the same examples on every CI run, well under a
# minute for all operations. The fixtures are set up once per operation and
# shared by its examples on purpose (the database rolls back afterwards).
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(
    case, _keep_test_connection, tenant_key, catalog_with_bookings, stripe_standin
):
    case.call_and_validate(
        headers={"X-Tenant-Key": tenant_key},
        checks=[not_a_server_error, response_schema_conformance],
    )
