"""Limits on active unpaid holds (bookings.hold_limits): per normalised
e-mail, per client address, per tenant; 429 `hold_limit_reached` with
Retry-After; a couple retrying its own checkout gets its hold back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from bookings.hold_limits import email_key, normalise_email
from bookings.models import Booking
from bookings.services import HOLD_GRACE
from tenants.models import Tenant
from tests.admin_pages import error_codes, page_form_data
from tests.factories import checkout_body, days_ahead, make_catalog

pytestmark = pytest.mark.django_db


def client_at(key: str, address: str) -> APIClient:
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_X_TENANT_KEY=key)
    return client


def checkout(client: APIClient, *, day: int, **body):
    return client.post(
        "/api/v1/checkout", checkout_body(event_date=days_ahead(day).isoformat(), **body), "json"
    )


# How long a 30-minute hold really occupies its date (bookings.services).
HOLD_SECONDS = int((dt.timedelta(minutes=33) + HOLD_GRACE).total_seconds())


def assert_hold_limit(response, *, retry_after: int | None = None) -> dict:
    assert response.status_code == 429, response.json()
    error = response.json()["error"]
    assert error["code"] == "hold_limit_reached"
    if retry_after is not None:
        assert response["Retry-After"] == str(retry_after)
    return error


@pytest.fixture
def clock(monkeypatch):
    """timezone.now() frozen at the test's start; `clock.advance(minutes=…)`."""

    class Clock:
        now = timezone.now()

        def advance(self, **delta) -> None:
            self.now += dt.timedelta(**delta)

    frozen = Clock()
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


def session_count(standin) -> int:
    return sum(
        1 for r in standin.requests if r.method == "POST" and r.path == "/v1/checkout/sessions"
    )


# --- normalising e-mails ------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "normalised"),
    [
        ("  Ada@Example.COM ", "ada@example.com"),
        ("ada+wedding@example.com", "ada@example.com"),
        ("ada+a+b@example.com", "ada@example.com"),
        ("ada.lovelace@example.com", "ada.lovelace@example.com"),  # dots matter elsewhere
        ("Ada.Love.Lace+x@gmail.com", "adalovelace@gmail.com"),
        ("ada.lovelace@googlemail.com", "adalovelace@gmail.com"),
    ],
)
def test_normalise_email(email, normalised):
    assert normalise_email(email) == normalised


# --- the limits through the API ----------------------------------------------


def test_fourth_hold_for_one_email_is_refused_with_retry_after(
    tenant, tenant_key, catalog, stripe_standin, clock, unscoped
):
    # given three holds for one couple's mailbox, spelled three ways, from
    # three addresses (so only the e-mail limit applies)
    emails = ["ada@example.com", "ADA+second@example.com", " ada+third@Example.com"]
    answers = [
        checkout(client_at(tenant_key, f"203.0.113.{n}"), day=90 + n, email=email)
        for n, email in enumerate(emails)
    ]

    # when a fourth date is asked for at the same moment
    refused = checkout(client_at(tenant_key, "198.51.100.1"), day=99, email="ada+4@example.com")

    # then it is refused until the first hold lapses: the tenant's 30 minutes
    assert [a.status_code for a in answers] == [201, 201, 201]
    # (a 30-minute hold lasts 43: the 33-minute Checkout Session, Stripe's
    # minimum plus margin, and the grace a late webhook needs)
    error = assert_hold_limit(refused, retry_after=HOLD_SECONDS)
    assert [e["code"] for e in error["fields"]["email"]] == ["hold_limit_reached"]
    assert Booking.objects.count() == 3
    assert session_count(stripe_standin) == 3


def test_retry_after_counts_to_the_earliest_counted_hold_lapsing(
    tenant, tenant_key, catalog, stripe_standin, clock, unscoped
):
    # given three holds made at t=0, 5 and 10 minutes (30-minute holds)
    for n in range(3):
        checkout(client_at(tenant_key, f"203.0.113.{n}"), day=90 + n)
        clock.advance(minutes=5)

    # when a fourth is asked for at t=15 min
    refused = checkout(client_at(tenant_key, "198.51.100.1"), day=99)

    # then the first hold lapses at t=43: 28 minutes from now
    assert_hold_limit(refused, retry_after=HOLD_SECONDS - 15 * 60)


def test_sixth_hold_from_one_address_is_refused_and_other_addresses_are_not(
    tenant, tenant_key, catalog, stripe_standin, clock, unscoped
):
    # given five couples behind one address
    shared = client_at(tenant_key, "203.0.113.50")
    answers = [checkout(shared, day=90 + n, email=f"c{n}@example.com") for n in range(5)]

    # when a sixth asks from there, and another couple from elsewhere
    sixth = checkout(shared, day=96, email="c6@example.com")
    elsewhere = checkout(client_at(tenant_key, "198.51.100.50"), day=97, email="c7@example.com")

    assert [a.status_code for a in answers] == [201] * 5
    error = assert_hold_limit(sixth, retry_after=HOLD_SECONDS)
    assert error["fields"] == {}
    assert elsewhere.status_code == 201
    assert Booking.objects.count() == 6


def test_tenant_limit_set_by_the_tenant_applies_to_it_only(
    tenant, tenant_key, other_tenant, other_tenant_key, catalog, stripe_standin, unscoped
):
    # given the tenant allows 2 unpaid holds at once; the other keeps the default
    Tenant.objects.filter(pk=tenant.pk).update(hold_limit_per_tenant=2)
    make_catalog(other_tenant)

    answers = [
        checkout(client_at(tenant_key, f"203.0.113.{n}"), day=90 + n, email=f"c{n}@example.com")
        for n in range(3)
    ]
    theirs = [
        checkout(
            client_at(other_tenant_key, f"198.51.100.{n}"), day=90 + n, email=f"c{n}@example.com"
        )
        for n in range(3)
    ]

    assert [a.status_code for a in answers[:2]] == [201, 201]
    assert assert_hold_limit(answers[2])["fields"] == {}
    assert [a.status_code for a in theirs] == [201, 201, 201]


def test_settings_set_the_platform_default_and_zero_means_no_limit(
    tenant, tenant_key, catalog, stripe_standin, settings, unscoped
):
    settings.HOLD_LIMIT_PER_EMAIL = 0
    settings.HOLD_LIMIT_PER_ADDRESS = 0
    settings.HOLD_LIMIT_PER_TENANT = 0
    client = client_at(tenant_key, "203.0.113.60")

    answers = [checkout(client, day=90 + n).status_code for n in range(7)]

    assert answers == [201] * 7


def test_tenant_field_overrides_the_setting(tenant, tenant_key, catalog, stripe_standin, unscoped):
    Tenant.objects.filter(pk=tenant.pk).update(hold_limit_per_email=1)

    first = checkout(client_at(tenant_key, "203.0.113.70"), day=90)
    second = checkout(client_at(tenant_key, "203.0.113.71"), day=91)

    assert first.status_code == 201
    assert_hold_limit(second)


def test_paid_lapsed_and_ended_bookings_do_not_count(
    tenant, tenant_key, catalog, stripe_standin, unscoped
):
    # given the couple's earlier bookings: confirmed, a lapsed hold not yet
    # marked expired, an expired and a canceled one
    from tests.factories import BookingFactory

    key = email_key("ada@example.com")
    for n, (status, expires) in enumerate(
        [
            (Booking.Status.CONFIRMED, None),
            (Booking.Status.HELD, timezone.now() - dt.timedelta(seconds=1)),
            (Booking.Status.EXPIRED, None),
            (Booking.Status.CANCELED, None),
        ]
    ):
        BookingFactory(
            tenant=tenant,
            package=catalog.package,
            event_date=days_ahead(200 + n),
            status=status,
            hold_expires_at=expires,
            hold_email_key=key,
        )

    answers = [
        checkout(client_at(tenant_key, f"203.0.113.{n}"), day=90 + n).status_code for n in range(3)
    ]

    assert answers == [201, 201, 201]


# --- a couple retrying its own checkout --------------------------------------


def test_retried_checkout_reuses_the_couples_own_hold(
    tenant, tenant_key, catalog, stripe_standin, unscoped
):
    first = checkout(client_at(tenant_key, "203.0.113.80"), day=90)

    # the same couple (same names), another device, the e-mail's case typed
    # differently (a +tag or other spelling is someone else: see
    # tests/bookings/test_hold_reuse_same_couple.py)
    again = checkout(client_at(tenant_key, "198.51.100.80"), day=90, email="ADA@Example.com")

    assert first.status_code == 201
    assert again.status_code == 201
    assert again.json() == first.json()
    assert Booking.objects.count() == 1
    assert session_count(stripe_standin) == 1


def test_retry_at_the_email_limit_is_not_blocked(
    tenant, tenant_key, catalog, stripe_standin, unscoped
):
    client = client_at(tenant_key, "203.0.113.81")
    held = [checkout(client, day=90 + n) for n in range(3)]

    retry = checkout(client, day=91)

    assert [h.status_code for h in held] == [201, 201, 201]
    assert retry.status_code == 201
    assert retry.json()["booking"]["id"] == held[1].json()["booking"]["id"]
    assert retry.json()["checkout_url"] == held[1].json()["checkout_url"]
    assert Booking.objects.count() == 3


def test_another_choice_or_another_couple_does_not_reuse_the_hold(
    tenant, tenant_key, catalog, stripe_standin, unscoped
):
    client = client_at(tenant_key, "203.0.113.82")
    first = checkout(client, day=90)

    other_add_ons = checkout(client, day=90, add_ons=["photos"])
    other_couple = checkout(client, day=90, email="grace@example.com")

    assert first.status_code == 201
    for refused in (other_add_ons, other_couple):
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "date_unavailable"
        assert refused.json()["error"]["fields"]["event_date"][0]["code"] == "held"
    assert Booking.objects.count() == 1


def test_hold_about_to_lapse_is_not_reused(
    tenant, tenant_key, catalog, stripe_standin, clock, settings, unscoped
):
    # given a 30-minute hold (its Checkout Session: 33 minutes, Stripe's
    # minimum plus margin) and reuse only with at least 5 minutes left to pay
    settings.HOLD_REUSE_MIN_REMAINING_SECONDS = 300
    client = client_at(tenant_key, "203.0.113.83")
    first = checkout(client, day=90)

    clock.advance(minutes=28)
    with_five_left = checkout(client, day=90)
    clock.advance(seconds=1)
    with_less_left = checkout(client, day=90)

    assert first.status_code == 201
    assert with_five_left.status_code == 201
    assert with_five_left.json()["booking"]["id"] == first.json()["booking"]["id"]
    assert with_less_left.status_code == 409
    assert with_less_left.json()["error"]["fields"]["event_date"][0]["code"] == "held"


# --- the owner's setting in the admin -----------------------------------------

TENANTS = "/admin/tenants/tenant/"


def test_owner_sets_the_tenants_hold_limits(owner_client, tenant):
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = owner_client.post(
        f"{TENANTS}{tenant.pk}/change/",
        {
            **page_form_data(page),
            "hold_limit_per_email": "2",
            "hold_limit_per_address": "",
            "hold_limit_per_tenant": "80",
        },
    )

    assert response.status_code == 302
    tenant.refresh_from_db()
    assert (
        tenant.hold_limit_per_email,
        tenant.hold_limit_per_address,
        tenant.hold_limit_per_tenant,
    ) == (2, None, 80)


def test_hold_limits_out_of_range_are_form_errors(owner_client, tenant):
    page = owner_client.get(f"{TENANTS}{tenant.pk}/change/")

    response = owner_client.post(
        f"{TENANTS}{tenant.pk}/change/",
        {**page_form_data(page), "hold_limit_per_email": "0", "hold_limit_per_tenant": "-1"},
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert error_codes(form, "hold_limit_per_email") == ["min_value"]
    assert error_codes(form, "hold_limit_per_tenant") == ["min_value"]
    tenant.refresh_from_db()
    assert (tenant.hold_limit_per_email, tenant.hold_limit_per_tenant) == (None, None)


def test_staff_cannot_change_hold_limits(staff_client, tenant):
    response = staff_client.post(f"{TENANTS}{tenant.pk}/change/", {"hold_limit_per_email": "99"})

    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.hold_limit_per_email is None
