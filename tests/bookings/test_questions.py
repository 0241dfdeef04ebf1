"""Issue 14, booking questions: defined per tenant, answered at checkout (API
and booking page, per-question codes), edited by the couple from "manage my
booking" until N days before, shown in the admin and the CSV export."""

from __future__ import annotations

import csv
import io

import pytest

from bookings.manage_links import manage_path, manage_token
from bookings.models import Booking, BookingPolicy, BookingQuestion
from tests.factories import BookingFactory, checkout_body, days_ahead

pytestmark = pytest.mark.django_db


@pytest.fixture
def questions(tenant):
    return [
        BookingQuestion.objects.create(
            tenant=tenant, key="venue", label="Ceremony location", kind="text", required=True
        ),
        BookingQuestion.objects.create(
            tenant=tenant, key="guests", label="Number of guests", kind="number", position=1
        ),
        BookingQuestion.objects.create(
            tenant=tenant,
            key="officiant",
            label="Officiant needed?",
            kind="choice",
            choices="Yes\nNo",
            position=2,
        ),
        BookingQuestion.objects.create(
            tenant=tenant, key="rehearsal", label="Rehearsal date", kind="date", position=3
        ),
    ]


def field_codes(response) -> dict[str, list[str]]:
    return {k: [e["code"] for e in v] for k, v in response.json()["error"]["fields"].items()}


def test_checkout_refuses_bad_answers_with_a_code_per_question_and_holds_nothing(
    tenant_api, catalog, questions, stripe_standin, unscoped
):
    response = tenant_api.post(
        "/api/v1/checkout",
        checkout_body(
            answers={
                "guests": "a dozen",
                "officiant": "Maybe",
                "rehearsal": "next friday",
                "cake": "yes",
            }
        ),
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert field_codes(response) == {
        "answers.venue": ["required"],
        "answers.guests": ["invalid_number"],
        "answers.officiant": ["invalid_choice"],
        "answers.rehearsal": ["invalid_date"],
        "answers.cake": ["unknown_question"],
    }
    assert Booking.objects.count() == 0
    assert stripe_standin.requests == []


def test_checkout_stores_valid_answers_typed(
    tenant_api, catalog, questions, stripe_standin, unscoped
):
    response = tenant_api.post(
        "/api/v1/checkout",
        checkout_body(
            answers={"venue": " The old barn ", "guests": 12, "officiant": "Yes", "rehearsal": ""}
        ),
        format="json",
    )

    assert response.status_code == 201, response.json()
    assert Booking.objects.get().answers == {
        "venue": "The old barn",
        "guests": 12,
        "officiant": "Yes",
    }


def test_a_text_answer_longer_than_500_characters_is_refused(
    tenant_api, catalog, questions, stripe_standin, unscoped
):
    response = tenant_api.post(
        "/api/v1/checkout", checkout_body(answers={"venue": "x" * 501}), format="json"
    )

    assert response.status_code == 400
    assert field_codes(response) == {"answers.venue": ["max_length"]}


# --- the couple edits answers (API, token-authenticated) --------------------------


def answers_url(booking) -> str:
    return f"/api/v1/bookings/{booking.pk}/answers"


def test_couple_edits_answers_with_the_manage_token(tenant_api, tenant, questions, unscoped):
    booking = BookingFactory(tenant=tenant, event_date=days_ahead(90), answers={"venue": "Barn"})

    response = tenant_api.put(
        answers_url(booking),
        {"answers": {"venue": "Beach", "guests": "30"}},
        format="json",
        HTTP_X_MANAGE_TOKEN=manage_token(booking.pk),
    )

    assert response.status_code == 200, response.json()
    assert response.json()["answers"] == {"venue": "Beach", "guests": 30}
    assert response.json()["answers_editable"] is True
    booking.refresh_from_db()
    assert booking.answers == {"venue": "Beach", "guests": 30}


@pytest.mark.parametrize("token", ["", "forged", "other"])
def test_answers_without_this_bookings_token_are_not_found(
    tenant_api, tenant, questions, unscoped, token
):
    booking = BookingFactory(tenant=tenant, answers={"venue": "Barn"})
    other = BookingFactory(tenant=tenant)
    header = manage_token(other.pk) if token == "other" else token

    response = tenant_api.put(
        answers_url(booking),
        {"answers": {"venue": "Beach"}},
        format="json",
        HTTP_X_MANAGE_TOKEN=header,
    )

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    booking.refresh_from_db()
    assert booking.answers == {"venue": "Barn"}


def test_another_tenants_key_cannot_edit_answers(other_tenant_api, tenant, questions, unscoped):
    booking = BookingFactory(tenant=tenant, answers={"venue": "Barn"})

    response = other_tenant_api.put(
        answers_url(booking),
        {"answers": {"venue": "Beach"}},
        format="json",
        HTTP_X_MANAGE_TOKEN=manage_token(booking.pk),
    )

    assert response.status_code == 404
    booking.refresh_from_db()
    assert booking.answers == {"venue": "Barn"}


def test_answers_are_locked_n_days_before_the_wedding(tenant_api, tenant, questions, unscoped):
    BookingPolicy.objects.create(tenant=tenant, answers_edit_min_days=14)
    booking = BookingFactory(tenant=tenant, event_date=days_ahead(13), answers={"venue": "Barn"})

    response = tenant_api.put(
        answers_url(booking),
        {"answers": {"venue": "Beach"}},
        format="json",
        HTTP_X_MANAGE_TOKEN=manage_token(booking.pk),
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "policy_forbids_change"
    assert field_codes(response) == {"policy": ["answers_locked"]}
    booking.refresh_from_db()
    assert booking.answers == {"venue": "Barn"}


def test_invalid_edited_answers_change_nothing(tenant_api, tenant, questions, unscoped):
    booking = BookingFactory(tenant=tenant, event_date=days_ahead(90), answers={"venue": "Barn"})

    response = tenant_api.put(
        answers_url(booking),
        {"answers": {"venue": "", "guests": "-1"}},
        format="json",
        HTTP_X_MANAGE_TOKEN=manage_token(booking.pk),
    )

    assert response.status_code == 400
    assert field_codes(response) == {
        "answers.venue": ["required"],
        "answers.guests": ["invalid_number"],
    }
    booking.refresh_from_db()
    assert booking.answers == {"venue": "Barn"}


# --- pages -----------------------------------------------------------------------------


def page_form(**overrides) -> dict:
    data = {
        "package": "elopement",
        "event_date": days_ahead(90).isoformat(),
        "couple_name": "Ada & Grace",
        "email": "ada@example.com",
    }
    data.update(overrides)
    return data


def test_booking_page_asks_the_questions_and_explains_a_missing_answer(
    client, tenant, catalog, questions, stripe_standin, unscoped
):
    page = client.get(f"/book/{tenant.slug}/")
    refused = client.post(f"/book/{tenant.slug}/", page_form(answer_guests="many"))

    assert 'name="answer_venue"' in page.content.decode()
    assert '<option value="Yes">Yes</option>' in page.content.decode()
    assert refused.status_code == 400
    body = refused.content.decode()
    assert "Please answer this question." in body
    assert "Enter a whole number." in body
    assert Booking.objects.count() == 0


def test_booking_page_stores_the_answers(
    client, tenant, catalog, questions, stripe_standin, unscoped
):
    response = client.post(
        f"/book/{tenant.slug}/", page_form(answer_venue="Barn", answer_officiant="No")
    )

    assert response.status_code == 302
    assert Booking.objects.get().answers == {"venue": "Barn", "officiant": "No"}


def test_manage_page_saves_edited_answers(client, tenant, questions, unscoped):
    booking = BookingFactory(tenant=tenant, event_date=days_ahead(90), answers={"venue": "Barn"})

    link = manage_path(booking.pk)  # one link (its signature carries the second)
    response = client.post(link + "answers/", {"answer_venue": "Beach", "answer_guests": "8"})

    assert response.status_code == 302
    assert response["Location"] == link + "?saved=answers"
    booking.refresh_from_db()
    assert booking.answers == {"venue": "Beach", "guests": 8}
    page = client.get(response["Location"])
    assert "Your answers were saved." in page.content.decode()


def test_manage_page_shows_answers_read_only_when_locked(client, tenant, questions, unscoped):
    BookingPolicy.objects.create(tenant=tenant, answers_edit_min_days=30)
    booking = BookingFactory(tenant=tenant, event_date=days_ahead(10), answers={"venue": "Barn"})

    page = client.get(manage_path(booking.pk)).content.decode()
    refused = client.post(manage_path(booking.pk) + "answers/", {"answer_venue": "Beach"})

    assert 'name="answer_venue"' not in page
    assert "<dt>Ceremony location</dt><dd>Barn</dd>" in page
    assert refused.status_code == 409
    booking.refresh_from_db()
    assert booking.answers == {"venue": "Barn"}


# --- admin and CSV --------------------------------------------------------------------


def test_staff_define_questions_in_the_admin(staff_client, tenant, unscoped):
    ok = staff_client.post(
        "/admin/bookings/bookingquestion/add/",
        {"label": "Guests", "key": "guests", "kind": "number", "position": 0, "active": "on"},
    )
    duplicate = staff_client.post(
        "/admin/bookings/bookingquestion/add/",
        {"label": "Guests again", "key": "guests", "kind": "text", "position": 1},
    )
    choice_without_options = staff_client.post(
        "/admin/bookings/bookingquestion/add/",
        {"label": "Officiant?", "key": "officiant", "kind": "choice", "position": 2},
    )

    assert ok.status_code == 302
    assert duplicate.status_code == 200
    assert "Another question has this key." in duplicate.content.decode()
    assert choice_without_options.status_code == 200
    assert "List the options, one per line." in choice_without_options.content.decode()
    assert list(BookingQuestion.objects.values_list("tenant", "key")) == [(tenant.pk, "guests")]


def test_another_tenants_question_is_not_found_in_the_admin(staff_client, other_tenant, unscoped):
    theirs = BookingQuestion.objects.create(tenant=other_tenant, key="guests", label="Guests")

    response = staff_client.get(f"/admin/bookings/bookingquestion/{theirs.pk}/change/")

    assert response.status_code == 404


def test_answers_in_the_admin_and_the_csv_export(staff_client, tenant, unscoped):
    booking = BookingFactory(tenant=tenant, answers={"venue": "Barn", "guests": 12})

    detail = staff_client.get(f"/admin/bookings/booking/{booking.pk}/change/")
    export = staff_client.get("/admin/bookings/booking/export.csv")

    assert "venue: Barn; guests: 12" in detail.content.decode()
    (row,) = list(csv.DictReader(io.StringIO(export.content.decode())))
    assert row["answers"] == "venue: Barn; guests: 12"
