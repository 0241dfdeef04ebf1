"""Shared fixtures, and the helpers they are made of. Tests run against the
real PostgreSQL; the only fakes are Stripe's servers (tools.stripe_standin,
on loopback) and S3 (moto's server mode, on loopback). Test data is
tests.factories; threads started together, tests.concurrency."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.management import call_command
from django.test import Client
from django_scopes import scopes_disabled
from rest_framework.test import APIClient

from bookings.models import Booking
from tenants.models import ApiKey, Tenant, TenantMembership
from tenants.services import api_key_issue
from tests.factories import (
    Catalog,
    MembershipFactory,
    TenantFactory,
    UserFactory,
    checkout_body,
    days_ahead,
    make_catalog,
)
from tools import stripe_conformance
from tools.stripe_standin import StripeStandin, sign_payload


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The local-memory cache lives as long as the worker process.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(scope="session")
def _stripe_standin_server():
    # One loopback server per test process; each test gets it reset.
    # auto_deliver=False: events wait for flush_events(), so tests decide
    # exactly when a webhook arrives.
    standin = StripeStandin(api_key=django_settings.STRIPE_SECRET_KEY, auto_deliver=False)
    standin.start()
    yield standin
    standin.stop()


@pytest.fixture
def stripe_standin(_stripe_standin_server, settings) -> StripeStandin:
    """Stripe's servers, played on loopback; the platform's real client code
    talks to it over HTTP.

    At teardown every request the test's code sent and every answer and
    event the stand-in produced is checked against the pinned ``stripe``
    library's types (tools.stripe_conformance); any finding fails the test
    that caused it."""
    _stripe_standin_server.reset()
    _stripe_standin_server.configure_webhooks()
    settings.STRIPE_API_BASE = _stripe_standin_server.base_url
    yield _stripe_standin_server
    findings = stripe_conformance.audit(_stripe_standin_server)
    _stripe_standin_server.reset()
    assert not findings, CONFORMANCE_HEADER + "\n".join(findings)


CONFORMANCE_HEADER = "Stripe conformance findings (pinned stripe library types):\n"
_conformance_findings: list[tuple[str, str]] = []


def pytest_runtest_logreport(report):
    # Collected in the controlling process too (xdist forwards reports), so
    # the summary below covers the whole run.
    if report.when == "teardown" and report.failed and CONFORMANCE_HEADER in report.longreprtext:
        text = report.longreprtext.split(CONFORMANCE_HEADER, 1)[1]
        for line in text.splitlines():
            line = line.strip().removeprefix("E").strip()
            if not line or line.startswith(("assert", "where", "+", "tests/", "AssertionError")):
                break
            _conformance_findings.append((report.nodeid, line))


def pytest_terminal_summary(terminalreporter):
    if not _conformance_findings:
        return
    terminalreporter.section("Stripe conformance findings")
    for nodeid, finding in _conformance_findings:
        terminalreporter.write_line(f"{nodeid}: {finding}")


# --- S3 (media) -----------------------------------------------------------------

S3_BUCKET = "altar-media-test"
S3_REGION = "us-east-1"
S3_ACCESS_KEY = "AKIAALTARTEST0000000"
S3_SECRET_KEY = "altar-test-secret-0000000000000000000000"


@pytest.fixture(scope="session")
def _moto_server():
    """One S3-compatible server (moto's server mode) per test process, on a
    free loopback port; each test gets it empty."""
    from moto.server import ThreadedMotoServer

    # The server logs every request at INFO through werkzeug's logger.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@dataclass
class S3Media:
    endpoint: str
    bucket: str
    client: object  # a boto3 S3 client on the same server, for assertions

    def objects(self) -> dict[str, bytes]:
        listing = self.client.list_objects_v2(Bucket=self.bucket)
        return {
            entry["Key"]: self.client.get_object(Bucket=self.bucket, Key=entry["Key"])[
                "Body"
            ].read()
            for entry in listing.get("Contents", [])
        }


def s3_storage_options(endpoint: str, **overrides) -> dict:
    """The OPTIONS config/settings.py builds from AWS_* variables."""
    from botocore.config import Config as BotoConfig

    return {
        "bucket_name": S3_BUCKET,
        "endpoint_url": endpoint,
        "region_name": S3_REGION,
        "access_key": S3_ACCESS_KEY,
        "secret_key": S3_SECRET_KEY,
        "custom_domain": None,
        "url_protocol": "https:",
        "querystring_auth": False,
        "querystring_expire": 7 * 24 * 3600,
        "default_acl": None,
        "file_overwrite": False,
        "object_parameters": {"CacheControl": "public, max-age=31536000, immutable"},
        "client_config": BotoConfig(
            connect_timeout=5,
            read_timeout=5,
            retries={"mode": "standard", "max_attempts": 1},
            signature_version="s3v4",
        ),
        **overrides,
    }


@pytest.fixture
def s3_media(_moto_server, settings) -> S3Media:
    """Media stored in an S3 bucket on the loopback server, configured as
    production configures it; the bucket is readable by anyone (the policy
    docs/deploy.md prescribes)."""
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=_moto_server,
        region_name=S3_REGION,
        aws_access_key_id=S3_ACCESS_KEY,
        aws_secret_access_key=S3_SECRET_KEY,
    )
    for bucket in client.list_buckets()["Buckets"]:
        listing = client.list_objects_v2(Bucket=bucket["Name"])
        for entry in listing.get("Contents", []):
            client.delete_object(Bucket=bucket["Name"], Key=entry["Key"])
        client.delete_bucket(Bucket=bucket["Name"])
    client.create_bucket(Bucket=S3_BUCKET)
    client.put_bucket_policy(
        Bucket=S3_BUCKET,
        Policy=(
            '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*",'
            f' "Action": "s3:GetObject", "Resource": "arn:aws:s3:::{S3_BUCKET}/*"}}]}}'
        ),
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "config.storage_s3.MediaS3Storage",
            "OPTIONS": s3_storage_options(_moto_server),
        },
    }
    return S3Media(endpoint=_moto_server, bucket=S3_BUCKET, client=client)


@dataclass
class MediaStore:
    """Where uploads land, for tests that run against both storages."""

    kind: str
    names: Callable[[], list[str]]  # stored file names, sorted
    read: Callable[[str], bytes]


@pytest.fixture(params=["local", "s3"])
def media_store(request, settings, tmp_path) -> MediaStore:
    if request.param == "local":
        settings.MEDIA_ROOT = str(tmp_path)
        return MediaStore(
            kind="local",
            names=lambda: sorted(
                p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
            ),
            read=lambda name: Path(tmp_path, name).read_bytes(),
        )
    s3 = request.getfixturevalue("s3_media")
    return MediaStore(
        kind="s3", names=lambda: sorted(s3.objects()), read=lambda name: s3.objects()[name]
    )


def run_outbox() -> int:
    """Run every task that is due, in this thread, as `db_worker` does after
    commit (e-mails, refunds the platform owes). Uses the library's own
    Worker.run_task, without the worker loop, whose connection recycling
    would break a test's transaction. Returns how many ran."""
    from django.db import transaction
    from django_tasks_db.management.commands.db_worker import Worker
    from django_tasks_db.models import DBTaskResult

    worker = Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="tests",
        excluded_queue_names=[],
    )
    ran = 0
    while True:
        with transaction.atomic():
            task_result = DBTaskResult.objects.ready().get_locked()
            if task_result is None:
                return ran
            task_result.claim(worker.worker_id)
        worker.run_task(task_result)
        ran += 1


@pytest.fixture
def outbox():
    """`outbox()` runs the due tasks; returns django.core.mail.outbox."""
    from django.core import mail

    def run():
        run_outbox()
        return mail.outbox

    return run


@pytest.fixture
def unscoped():
    """For assertions that look across tenants (the code under test never does)."""
    with scopes_disabled():
        yield


@pytest.fixture
def tenant(db) -> Tenant:
    return TenantFactory(slug="alpha-weddings", name="Alpha Weddings")


@pytest.fixture
def other_tenant(db) -> Tenant:
    return TenantFactory(slug="beta-weddings", name="Beta Weddings")


def publishable_key_for(tenant: Tenant) -> str:
    return api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE).key


@pytest.fixture
def tenant_key(tenant) -> str:
    return publishable_key_for(tenant)


@pytest.fixture
def other_tenant_key(other_tenant) -> str:
    return publishable_key_for(other_tenant)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


@pytest.fixture
def tenant_api(tenant_key) -> APIClient:
    """A client that sends the tenant's publishable key."""
    client = APIClient()
    client.credentials(HTTP_X_TENANT_KEY=tenant_key)
    return client


@pytest.fixture
def other_tenant_api(other_tenant_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_X_TENANT_KEY=other_tenant_key)
    return client


@pytest.fixture
def staff_user(tenant):
    return MembershipFactory(tenant=tenant, role=TenantMembership.Role.STAFF).user


@pytest.fixture
def owner_user(tenant):
    return MembershipFactory(tenant=tenant, role=TenantMembership.Role.OWNER).user


@pytest.fixture
def superuser(db):
    return UserFactory(is_superuser=True)


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client


@pytest.fixture
def owner_client(client, owner_user):
    client.force_login(owner_user)
    return client


@pytest.fixture
def superuser_client(client, superuser):
    client.force_login(superuser)
    return client


# --- bookings: a catalog to book from, a booking checked out and paid --------


@pytest.fixture
def catalog(tenant) -> Catalog:
    return make_catalog(tenant)


def pay_on_standin(standin, tenant, booking) -> str:
    """The couple pays on the stand-in's page and Stripe's event reaches the
    payment service (as the webhook handler would call it); returns its outcome."""
    from bookings.services import booking_mark_paid

    standin.pay(booking.stripe_checkout_session_id)
    session = standin.get(booking.stripe_checkout_session_id)
    return booking_mark_paid(
        tenant=tenant,
        booking_id=booking.pk,
        checkout_session_id=session["id"],
        payment_intent_id=session["payment_intent"],
        amount_paid_cents=session["amount_total"],
    )


@pytest.fixture
def paid_booking(tenant, tenant_api, catalog, stripe_standin, unscoped):
    """A booking checked out through the API and paid on the stand-in, so
    refunds are real calls to it."""
    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")
    booking = Booking.objects.get(pk=response.json()["booking"]["id"])
    pay_on_standin(stripe_standin, tenant, booking)
    booking.refresh_from_db()
    return booking


@pytest.fixture
def checkout(tenant_api, catalog, stripe_standin, unscoped):
    """Check out through the API; returns the held booking."""

    def start(**overrides) -> Booking:
        response = tenant_api.post("/api/v1/checkout", checkout_body(**overrides), format="json")
        assert response.status_code == 201, response.json()
        return Booking.objects.get(pk=response.json()["booking"]["id"])

    return start


def checkout_through_service(tenant, *, days: int, **fields) -> Booking:
    """A held booking with a Checkout Session at the stand-in (for race
    tests, which run outside the API client's thread); `fields` go on to
    booking_checkout (accepted terms, answers)."""
    from bookings.services import booking_checkout

    return booking_checkout(
        tenant=tenant,
        package_slug="elopement",
        add_on_slugs=[],
        event_date=days_ahead(days),
        couple_name="Ada & Grace",
        email="ada@example.com",
        **fields,
    ).booking


# --- Stripe's webhooks ----------------------------------------------------------
# They arrive over the real endpoint with real signatures: the stand-in signs
# each event as Stripe does and hands the request to Django's test client
# (in-process HTTP), so dj-stripe's signature check and our view run exactly
# as in production.

PLATFORM_SECRET = "whsec_platformTestSecret0000000000"
CONNECT_SECRET = "whsec_connectTestSecret00000000000"


def record_endpoint(secret: str, *, connect: bool = False) -> str:
    out = StringIO()
    args = ["stripe_webhook_endpoint", "--secret", secret, "--json"]
    if connect:
        args.append("--connect")
    call_command(*args, stdout=out)
    return json.loads(out.getvalue())["path"]


@dataclass
class Webhooks:
    path: str
    connect_path: str

    def post(
        self,
        event: dict,
        *,
        secret: str = PLATFORM_SECRET,
        path: str | None = None,
        signature: str | None = None,
        client: Client | None = None,
    ):
        """One signed delivery of `event` (a fresh client per call: threads
        must not share one)."""
        payload = json.dumps(event).encode()
        headers = {}
        if signature != "":
            headers["HTTP_STRIPE_SIGNATURE"] = signature or sign_payload(payload, secret)
        return (client or Client()).post(
            path or self.path, data=payload, content_type="application/json", **headers
        )


@pytest.fixture
def webhooks(db, stripe_standin, unscoped) -> Webhooks:
    """Both endpoints recorded as ops would, and the stand-in delivering to them.
    Tests assert across tenants (`unscoped`); the endpoint enters each
    event's tenant scope itself, which re-enables scoping inside."""
    hooks = Webhooks(
        path=record_endpoint(PLATFORM_SECRET),
        connect_path=record_endpoint(CONNECT_SECRET, connect=True),
    )

    def sender(url: str, payload: bytes, headers: dict[str, str]) -> int:
        return (
            Client()
            .post(
                urlsplit(url).path,
                data=payload,
                content_type="application/json",
                HTTP_STRIPE_SIGNATURE=headers["Stripe-Signature"],
            )
            .status_code
        )

    stripe_standin.configure_webhooks(
        url="http://testserver" + hooks.path,
        secret=PLATFORM_SECRET,
        connect_url="http://testserver" + hooks.connect_path,
        connect_secret=CONNECT_SECRET,
        sender=sender,
    )
    return hooks


# --- the API's one error shape (API.md §1) ---


def assert_error(response, status: int, code: str) -> dict:
    """The response is the contract's error body with `code`; returns its `error`."""
    assert response.status_code == status
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]


# --- settings read in a fresh process (settings are read once per process) ---

BASE_DIR = Path(__file__).resolve().parents[1]
REAL_SECRET = "q8Zr3vN-" + "kT7pW2xL9mB4cF6hJ1sD5gA0eY" * 2 + "_uI"


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
