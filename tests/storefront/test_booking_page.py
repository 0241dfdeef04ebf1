"""The booking page /book/<tenant>/ without a browser: what it shows, the
checkout it starts through bookings.services.booking_checkout, and the
sentence for every refusal a couple can meet."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from bookings.models import BlackoutDate, Booking
from config.errors import DomainError
from tests.factories import BookingFactory, PackageFactory, TenantFactory, days_ahead, make_catalog

pytestmark = pytest.mark.django_db

FRAGMENT = {"HTTP_X_ALTAR_FRAGMENT": "1"}


def form(**overrides) -> dict:
    data = {
        "package": "elopement",
        "add_ons_elopement": ["flowers"],
        "event_date": days_ahead(90).isoformat(),
        "couple_name": "Ada & Grace",
        "email": "ada@example.com",
        "phone": "+1 555 0100",
        "notes": "Sunset, please.",
    }
    data.update(overrides)
    return data


def long_date(day: dt.date) -> str:
    return f"{day:%A, %-d %B %Y}"


def test_page_shows_packages_add_ons_prices_and_this_months_calendar(client, tenant, unscoped):
    make_catalog(tenant)
    PackageFactory(tenant=tenant, slug="retired", title="Retired package", active=False)

    response = client.get(f"/book/{tenant.slug}/")

    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    assert response["Cache-Control"] == "no-store"
    policy = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in policy  # no origins listed: nobody frames it
    # The no-JavaScript form is redirected to Checkout (the stand-in here).
    assert "form-action 'self' http://127.0.0.1:9" in policy
    assert "Set-Cookie" not in response.headers
    html = response.content.decode()
    assert '<span class="package-title">Elopement</span>' in html
    assert '<span class="price">$1,500.00</span>' in html
    assert '<span class="addon-title">Flowers</span> <span class="price">+ $123.45</span>' in html
    assert "String quartet" not in html and "Retired package" not in html
    today = timezone.now().date()
    assert f'<div class="cal" data-month="{today:%Y-%m}">' in html
    assert 'type="date" id="id_event_date" name="event_date"' in html
    assert "<script>" not in html and " on" + "click=" not in html


def test_unknown_and_inactive_businesses_are_404(client, tenant, unscoped):
    TenantFactory(slug="closed-shop", active=False)

    assert client.get("/book/no-such-shop/").status_code == 404
    assert client.get("/book/closed-shop/").status_code == 404


def test_calendar_says_why_each_date_is_unavailable(client, tenant, unscoped):
    catalog = make_catalog(tenant)
    tenant.min_notice_days = 3
    tenant.save()
    month = days_ahead(40).replace(day=1)
    BookingFactory(tenant=tenant, package=catalog.package, event_date=month.replace(day=10))
    BookingFactory(
        tenant=tenant,
        package=catalog.package,
        event_date=month.replace(day=11),
        status=Booking.Status.HELD,
        hold_expires_at=timezone.now() + dt.timedelta(minutes=30),
    )
    BlackoutDate.objects.create(tenant=tenant, date=month.replace(day=12))

    html = client.get(f"/book/{tenant.slug}/calendar/?month={month:%Y-%m}").content.decode()

    for day, word in ((10, "booked"), (11, "on hold"), (12, "unavailable")):
        date = month.replace(day=day)
        assert (
            f'aria-label="{long_date(date)}: {word}"><span class="num">{day}</span>'
            f'<span class="why">{word}</span></button>'
        ) in html
    free = month.replace(day=13)
    assert f'data-date="{free:%Y-%m-%d}" data-label="{long_date(free)}" aria-pressed="false"' in (
        html
    )


def test_checkout_without_javascript_redirects_to_stripe_and_holds_the_date(
    client, tenant, stripe_standin, unscoped
):
    make_catalog(tenant)

    response = client.post(f"/book/{tenant.slug}/?lang=es", form())

    assert response.status_code == 302
    booking = Booking.objects.get(tenant=tenant)
    assert response["Location"] == booking.checkout_url
    assert response["Location"].startswith(stripe_standin.base_url + "/pay/cs_")
    assert (booking.status, booking.event_date, booking.amount_cents, booking.language) == (
        Booking.Status.HELD,
        days_ahead(90),
        162_345,
        "es",
    )
    assert [line.slug for line in booking.add_on_lines.all()] == ["flowers"]
    assert (booking.couple_name, booking.email, booking.notes) == (
        "Ada & Grace",
        "ada@example.com",
        "Sunset, please.",
    )


def test_checkout_with_javascript_answers_where_to_go(client, tenant, stripe_standin, unscoped):
    make_catalog(tenant)

    response = client.post(f"/book/{tenant.slug}/", form(), **FRAGMENT)

    assert response.status_code == 200
    assert response.json() == {"redirect": Booking.objects.get(tenant=tenant).checkout_url}


def test_add_ons_ticked_under_another_package_are_not_bought(
    client, tenant, stripe_standin, unscoped
):
    make_catalog(tenant)
    PackageFactory(tenant=tenant, slug="garden", title="Garden")

    client.post(f"/book/{tenant.slug}/", form(add_ons_elopement=[], add_ons_garden=["flowers"]))

    booking = Booking.objects.get(tenant=tenant)
    assert (booking.amount_cents, booking.add_on_lines.count()) == (150_000, 0)


def test_date_just_taken_is_a_sentence_and_nothing_is_held(
    client, tenant, stripe_standin, unscoped
):
    catalog = make_catalog(tenant)
    BookingFactory(tenant=tenant, package=catalog.package, event_date=days_ahead(90))

    response = client.post(f"/book/{tenant.slug}/", form())

    assert response.status_code == 409
    html = response.content.decode()
    sentence = (
        f"Sorry, {long_date(days_ahead(90))} has just been booked by another couple. "
        "Please pick another date."
    )
    assert f'role="alert" tabindex="-1">{sentence}</div>' in html
    assert Booking.objects.filter(tenant=tenant).count() == 1
    # What the couple typed is kept.
    assert 'value="Ada &amp; Grace"' in html


def test_date_refusals_over_javascript_name_the_field_and_refresh_the_calendar(
    client, tenant, stripe_standin, unscoped
):
    make_catalog(tenant)
    tenant.min_notice_days = 30
    tenant.save()

    response = client.post(
        f"/book/{tenant.slug}/", form(event_date=days_ahead(5).isoformat()), **FRAGMENT
    )

    sentence = (
        f"{long_date(days_ahead(5))} is too soon: Alpha Weddings needs at least 30 days' "
        "notice. Please pick a later date."
    )
    assert response.status_code == 409
    assert response.json() == {
        "error": sentence,
        "fields": {"event_date": [sentence]},
        "refresh_calendar": True,
    }
    assert Booking.objects.filter(tenant=tenant).count() == 0


def test_retired_package_is_a_sentence(client, tenant, stripe_standin, unscoped):
    catalog = make_catalog(tenant)
    catalog.package.active = False
    catalog.package.save()

    response = client.post(f"/book/{tenant.slug}/", form(), **FRAGMENT)

    assert response.status_code == 404
    assert response.json()["error"] == (
        "Sorry, this package is no longer offered. Please choose another package; "
        "your other choices are kept."
    )
    assert Booking.objects.filter(tenant=tenant).count() == 0


def test_stripe_down_is_a_sentence_and_nothing_is_held(client, tenant, stripe_standin, unscoped):
    make_catalog(tenant)
    stripe_standin.fail_next("POST", "/v1/checkout/sessions", status=500, count=5)

    response = client.post(f"/book/{tenant.slug}/", form())

    assert response.status_code == 502
    assert (
        "We could not reach our payment provider, so nothing was charged and your date is "
        "not held. Please try again in a few minutes."
    ) in response.content.decode()
    assert Booking.objects.filter(tenant=tenant).count() == 0


def test_hold_limit_and_other_refusals_are_sentences(client, tenant, monkeypatch, unscoped):
    make_catalog(tenant)

    class HoldLimitReached(DomainError):
        code = "hold_limit_reached"
        status = 429

    class Unforeseen(DomainError):
        code = "something_new"
        status = 409

    def refuse(error):
        def checkout(**kwargs):
            raise error()

        return checkout

    monkeypatch.setattr("storefront.views.booking_checkout", refuse(HoldLimitReached))
    limited = client.post(f"/book/{tenant.slug}/", form(), **FRAGMENT)
    monkeypatch.setattr("storefront.views.booking_checkout", refuse(Unforeseen))
    other = client.post(f"/book/{tenant.slug}/", form(), **FRAGMENT)

    assert limited.status_code == 429
    assert limited.json()["error"].startswith(
        "There are already several unpaid bookings waiting for payment from you."
    )
    assert other.status_code == 409
    assert other.json()["error"] == (
        "We could not start your booking. Please check your choices and try again; if it "
        "keeps happening, contact Alpha Weddings."
    )


def test_missing_fields_are_sentences_next_to_the_fields(client, tenant, unscoped):
    make_catalog(tenant)

    response = client.post(
        f"/book/{tenant.slug}/", form(couple_name="", email="not-an-email", event_date="")
    )

    assert response.status_code == 400
    html = response.content.decode()
    assert '<p class="field-error" id="err-couple_name">Tell us your names. </p>' in html
    assert (
        '<p class="field-error" id="err-email">Enter a valid e-mail address, like '
        "ada@example.com. </p>"
    ) in html
    assert '<p class="field-error" id="err-event_date">Pick a date for your wedding. </p>' in html
    assert Booking.objects.filter(tenant=tenant).count() == 0


def test_language_from_choice_then_browser_then_business_default(client, tenant, unscoped):
    make_catalog(tenant)

    def heading(**kwargs) -> str:
        html = client.get(f"/book/{tenant.slug}/", **kwargs).content.decode()
        return html.split("<h1>")[1].split("</h1>")[0]

    assert heading(HTTP_ACCEPT_LANGUAGE="es-ES,es;q=0.9") == "Reserva tu fecha con Alpha Weddings"
    assert heading(HTTP_ACCEPT_LANGUAGE="de-DE") == "Book your date with Alpha Weddings"
    tenant.default_language = "es"
    tenant.save()
    assert heading(HTTP_ACCEPT_LANGUAGE="de-DE") == "Reserva tu fecha con Alpha Weddings"
    assert heading(HTTP_ACCEPT_LANGUAGE="en-US") == "Book your date with Alpha Weddings"
    assert heading(data={"lang": "en"}, HTTP_ACCEPT_LANGUAGE="es") == (
        "Book your date with Alpha Weddings"
    )


def test_prices_follow_the_pages_locale_and_the_currency(client, db, unscoped):
    yen = TenantFactory(slug="tokyo-vows", name="Tokyo Vows", currency="jpy")
    PackageFactory(tenant=yen, slug="shrine", title="Shrine", price_cents=162_345)

    english = client.get("/book/tokyo-vows/?lang=en").content.decode()
    spanish = client.get("/book/tokyo-vows/?lang=es").content.decode()

    assert '<span class="price">¥162,345</span>' in english
    assert 'data-money-pattern="¥{n}"' in english and 'data-money-digits="0"' in english
    assert '<span class="price">162.345\u00a0JPY</span>' in spanish  # no-break space


def test_theme_css_carries_the_tenants_colours_and_font_stack(client, db, unscoped):
    TenantFactory(slug="odd-brand", primary_color="#FFFF00", font_family="system-ui, sans-serif")

    css = client.get("/book/odd-brand/theme.css").content.decode()

    assert css == (
        ":root{--brand:#FFFF00;--on-brand:#000000;--brand-soft:#F4EDE4;"
        "--on-brand-soft:#000000;--font:system-ui, sans-serif;}\n"
    )


def test_theme_lets_only_hex_colours_and_listed_fonts_through():
    """The database refuses other values (tenants' check constraints); an
    unsaved or hand-built tenant still cannot inject CSS."""
    from storefront.branding import tenant_theme
    from tenants.models import Tenant

    odd = Tenant(
        primary_color="red;}*{",
        secondary_color="#F4EDE4",
        font_family="x;}</style><script>alert(1)</script>",
    )

    assert tenant_theme(odd).css() == (
        ":root{--brand:#7A4E6D;--on-brand:#FFFFFF;--brand-soft:#F4EDE4;"
        "--on-brand-soft:#000000;--font:Georgia, serif;}\n"
    )


def test_language_links_name_each_language_in_itself(client, tenant):
    html = client.get(f"/book/{tenant.slug}/?lang=es").content.decode()

    assert '<span aria-current="true" lang="es">Español</span>' in html
    assert '<a href="?lang=en" lang="en" hreflang="en">English</a>' in html


def test_a_service_validation_error_is_shown_not_lost(client, tenant, monkeypatch, unscoped):
    from django.core.exceptions import ValidationError

    make_catalog(tenant)

    def checkout(**kwargs):
        raise ValidationError("This booking cannot be taken right now.")

    monkeypatch.setattr("storefront.views.booking_checkout", checkout)
    response = client.post(f"/book/{tenant.slug}/", form())

    assert response.status_code == 400
    assert (
        'role="alert" tabindex="-1">This booking cannot be taken right now.</div>'
        in response.content.decode()
    )
