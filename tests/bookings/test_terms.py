"""Issue 14, terms: versioned text, acceptance required at checkout (API and
booking page), recorded on the booking, shown to staff and the couple."""

from __future__ import annotations

import pytest

from bookings.agreements import terms_publish
from bookings.manage_links import manage_path
from bookings.models import Booking, TermsVersion
from tests.factories import BookingFactory, checkout_body, days_ahead

pytestmark = pytest.mark.django_db


def test_checkout_without_accepting_the_terms_is_refused_and_holds_nothing(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    terms_publish(tenant=tenant, text="Be kind.")

    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "terms_not_accepted"
    assert [e["code"] for e in error["fields"]["accept_terms_version"]] == ["required"]
    assert Booking.objects.count() == 0
    assert stripe_standin.requests == []


def test_checkout_naming_an_older_version_is_refused_as_outdated(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    terms_publish(tenant=tenant, text="Version one.")
    terms_publish(tenant=tenant, text="Version two.")

    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(accept_terms_version=1), format="json"
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "terms_not_accepted"
    assert error["fields"]["accept_terms_version"][0]["code"] == "outdated"
    assert Booking.objects.count() == 0


def test_accepted_terms_are_stored_on_the_booking_and_shown_in_its_public_view(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    terms_publish(tenant=tenant, text="Version one.")
    current = terms_publish(tenant=tenant, text="Version two.")

    response = tenant_api.post(
        "/api/v1/checkout",
        checkout_body(accept_terms_version=2),
        format="json",
        REMOTE_ADDR="203.0.113.9",
    )

    assert response.status_code == 201, response.json()
    booking = Booking.objects.get()
    assert booking.terms_version == current
    assert booking.terms_accepted_name == "Ada & Grace"
    assert booking.terms_accepted_address == "203.0.113.9"
    assert response.json()["booking"]["terms"] == {
        "version": 2,
        "accepted_at": booking.terms_accepted_at.isoformat().replace("+00:00", "Z"),
    }


def test_a_tenant_without_terms_needs_no_acceptance(
    tenant_api, tenant, catalog, stripe_standin, unscoped
):
    response = tenant_api.post("/api/v1/checkout", checkout_body(), format="json")

    assert response.status_code == 201
    assert response.json()["booking"]["terms"] is None
    assert Booking.objects.get().terms_version is None


def test_terms_endpoint_gives_the_version_in_force_of_this_tenant_only(
    tenant_api, other_tenant_api, tenant, unscoped
):
    terms_publish(tenant=tenant, text="Old.")
    terms_publish(tenant=tenant, text="New text.")

    response = tenant_api.get("/api/v1/terms")
    other = other_tenant_api.get("/api/v1/terms")

    assert response.status_code == 200
    assert response.json()["version"] == 2
    assert response.json()["text"] == "New text."
    assert other.status_code == 404
    assert other.json()["error"]["code"] == "not_found"


def test_a_new_version_never_alters_what_earlier_couples_accepted(tenant, unscoped):
    first = terms_publish(tenant=tenant, text="First text.")
    booking = BookingFactory(tenant=tenant, terms_version=first)

    terms_publish(tenant=tenant, text="Second text.")

    booking.refresh_from_db()
    assert booking.terms_version.version == 1
    assert booking.terms_version.text == "First text."
    assert list(TermsVersion.objects.values_list("version", "text")) == [
        (2, "Second text."),
        (1, "First text."),
    ]


def test_blank_terms_are_refused(tenant, unscoped):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as refused:
        terms_publish(tenant=tenant, text="   ")

    assert refused.value.error_dict["text"][0].code == "required"
    assert TermsVersion.objects.count() == 0


# --- admin -------------------------------------------------------------------


def test_staff_publish_versions_in_the_admin_and_cannot_edit_or_delete_them(
    staff_client, tenant, unscoped
):
    for text in ("First text.", "Second text."):
        response = staff_client.post("/admin/bookings/termsversion/add/", {"text": text})
        assert response.status_code == 302

    first = TermsVersion.objects.get(version=1)
    response = staff_client.post(
        f"/admin/bookings/termsversion/{first.pk}/change/", {"text": "Rewritten."}
    )
    first.refresh_from_db()
    assert first.text == "First text."
    assert list(TermsVersion.objects.filter(tenant=tenant).values_list("version", flat=True)) == [
        2,
        1,
    ]
    delete = staff_client.post(f"/admin/bookings/termsversion/{first.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    assert TermsVersion.objects.count() == 2


def test_another_tenants_terms_version_is_not_found_in_the_admin(
    staff_client, other_tenant, unscoped
):
    theirs = terms_publish(tenant=other_tenant, text="Theirs.")

    response = staff_client.get(f"/admin/bookings/termsversion/{theirs.pk}/change/")

    assert response.status_code == 404


def test_staff_see_the_acceptance_on_the_booking(staff_client, tenant, unscoped):
    terms = terms_publish(tenant=tenant, text="Text.")
    booking = BookingFactory(
        tenant=tenant,
        terms_version=terms,
        terms_accepted_name="Ada & Grace",
        terms_accepted_address="203.0.113.9",
    )

    response = staff_client.get(f"/admin/bookings/booking/{booking.pk}/change/")

    assert response.status_code == 200
    assert "Version 1</a> accepted" in response.content.decode()
    assert "203.0.113.9" in response.content.decode()


# --- the booking page and manage page -------------------------------------------


def page_form(**overrides) -> dict:
    data = {
        "package": "elopement",
        "event_date": days_ahead(90).isoformat(),
        "couple_name": "Ada & Grace",
        "email": "ada@example.com",
    }
    data.update(overrides)
    return data


def test_booking_page_shows_the_terms_and_refuses_checkout_without_the_box(
    client, tenant, catalog, stripe_standin, unscoped
):
    terms_publish(tenant=tenant, text="Our terms of service.")

    page = client.get(f"/book/{tenant.slug}/")
    refused = client.post(f"/book/{tenant.slug}/", page_form(terms_version="1"))

    assert "Our terms of service." in page.content.decode()
    assert 'name="accept_terms"' in page.content.decode()
    assert refused.status_code == 400
    assert "Please read and accept the terms to book." in refused.content.decode()
    assert Booking.objects.count() == 0


def test_booking_page_checkout_with_the_box_ticked_records_the_acceptance(
    client, tenant, catalog, stripe_standin, unscoped
):
    terms_publish(tenant=tenant, text="Our terms of service.")

    response = client.post(
        f"/book/{tenant.slug}/",
        page_form(terms_version="1", accept_terms="1"),
        REMOTE_ADDR="198.51.100.7",
    )

    assert response.status_code == 302
    booking = Booking.objects.get()
    assert booking.terms_version.version == 1
    assert booking.terms_accepted_address == "198.51.100.7"


def test_manage_page_shows_the_accepted_text(client, tenant, unscoped):
    terms = terms_publish(tenant=tenant, text="What they agreed to.")
    terms_publish(tenant=tenant, text="A later text.")
    booking = BookingFactory(tenant=tenant, terms_version=terms)

    response = client.get(manage_path(booking.pk))

    body = response.content.decode()
    assert "You accepted the terms (version 1)" in body
    assert "What they agreed to." in body
    assert "A later text." not in body
