"""The back office read by people (issue 15): the theme's navigation, the
business's time zone, money in units, the bookings list and booking page."""

from __future__ import annotations

import datetime as dt
import re
from html import unescape

from django.utils import timezone
from django.utils.text import capfirst

from bookings.models import Booking, BookingDispute, BookingPayment, BookingRefund, PaymentReview
from tenants.models import Tenant
from tests.factories import BookingFactory, MembershipFactory


def owner_of(client, tenant):
    owner = MembershipFactory(tenant=tenant, role="owner").user
    client.force_login(owner)
    return owner


def test_admin_times_are_in_the_tenants_time_zone_not_utc(client, tenant, unscoped):
    Tenant.objects.filter(pk=tenant.pk).update(timezone="America/Denver")
    booking = BookingFactory(tenant=tenant, couple_name="Ada & Grace")
    # 18:30 UTC on 1 July 2031 is 12:30 in Denver (MDT, UTC-6).
    Booking.objects.filter(pk=booking.pk).update(
        created_at=dt.datetime(2031, 7, 1, 18, 30, tzinfo=dt.UTC)
    )
    owner_of(client, tenant)

    page = client.get(f"/admin/bookings/booking/{booking.pk}/change/")

    assert page.status_code == 200
    assert b"12:30" in page.content and b"18:30" not in page.content


def test_sidebar_groups_tenant_models_and_hides_platform_ones_from_staff(client, tenant, unscoped):
    owner_of(client, tenant)

    page = client.get("/admin/")

    groups = [group["title"] for group in page.context["sidebar_navigation"]]
    assert groups == ["Today", "Bookings", "Payments", "Catalog", "Business"]
    links = [item["link"] for g in page.context["sidebar_navigation"] for item in g["items"]]
    assert not [link for link in links if "/djstripe/" in link or "/axes/" in link]
    assert client.get("/admin/djstripe/").status_code == 404


def test_superusers_find_platform_models_under_one_platform_group(superuser_client):
    page = superuser_client.get("/admin/")

    navigation = {g["title"]: g["items"] for g in page.context["sidebar_navigation"]}
    platform = {item["link"] for item in navigation["Platform"]}
    assert {"/admin/djstripe/", "/admin/axes/", "/admin/django_tasks_database/"} <= platform
    others = [
        item["link"] for title, items in navigation.items() if title != "Platform" for item in items
    ]
    assert not [link for link in others if "/djstripe/" in link]


def test_header_names_the_tenant(client, tenant, unscoped):
    owner_of(client, tenant)

    page = client.get("/admin/")

    assert page.context["site_header"] == "Altar"
    assert page.context["site_subheader"] == tenant.name
    assert f'<span class="altar-tenant-name">{tenant.name}</span>'.encode() in page.content


# --- the bookings list ---------------------------------------------------------


def _listed(response) -> list[str]:
    return [booking.couple_name for booking in response.context["cl"].result_list]


def test_bookings_list_puts_upcoming_weddings_first_soonest_at_the_top(client, tenant, unscoped):
    today = timezone.localdate()
    for couple, days in [("Later", 40), ("Past", -10), ("Soon", 3), ("Long ago", -300)]:
        BookingFactory(tenant=tenant, couple_name=couple, event_date=today + dt.timedelta(days))
    owner_of(client, tenant)

    response = client.get("/admin/bookings/booking/")

    assert _listed(response) == ["Soon", "Later", "Long ago", "Past"]


def test_bookings_list_filters_this_and_next_month_and_searches_couples(client, tenant, unscoped):
    Tenant.objects.filter(pk=tenant.pk).update(timezone="Pacific/Kiritimati")  # UTC+14
    today = timezone.now().astimezone(dt.timezone(dt.timedelta(hours=14))).date()
    first_of_next = (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    BookingFactory(tenant=tenant, couple_name="This month", event_date=today.replace(day=1))
    BookingFactory(tenant=tenant, couple_name="Next month", event_date=first_of_next)
    BookingFactory(
        tenant=tenant,
        couple_name="Maria & Jo",
        email="maria@example.com",
        event_date=first_of_next + dt.timedelta(days=70),
    )
    owner_of(client, tenant)

    this_month = client.get("/admin/bookings/booking/?wedding=this_month")
    next_month = client.get("/admin/bookings/booking/?wedding=next_month")
    by_email = client.get("/admin/bookings/booking/?q=maria@example")

    assert _listed(this_month) == ["This month"]
    assert _listed(next_month) == ["Next month"]
    assert _listed(by_email) == ["Maria & Jo"]


# --- the booking page ----------------------------------------------------------


def test_booking_page_is_a_summary_card_with_the_actions_that_apply(client, tenant, unscoped):
    held = BookingFactory(tenant=tenant, couple_name="Hedy & Alan", status="held")
    confirmed = BookingFactory(tenant=tenant, couple_name="Ada & Grace", amount_cents=180_000)
    owner_of(client, tenant)

    held_page = client.get(f"/admin/bookings/booking/{held.pk}/change/").content.decode()
    paid_page = client.get(f"/admin/bookings/booking/{confirmed.pk}/change/").content.decode()

    assert 'id="booking-summary"' in held_page
    assert ">Release hold</a>" in held_page and ">Cancel booking</a>" not in held_page
    assert ">Cancel booking</a>" in paid_page and ">Release hold</a>" not in paid_page
    assert ">Resend confirmation</a>" in paid_page
    assert "1,800.00 USD" in paid_page
    assert 'name="_addanother"' not in paid_page
    # Stripe's ids sit in the folded "Payment details" group, after the card.
    assert paid_page.index("Payment details") > paid_page.index('id="booking-summary"')
    assert "cents" not in paid_page.lower()


# --- staff e-mails ---------------------------------------------------------------


def test_staff_emails_link_straight_to_the_booking_in_the_admin(tenant, settings, unscoped):
    from django.core import mail

    from bookings.notifications import send_booking_confirmed

    settings.PUBLIC_BASE_URL = "https://altar.example"
    MembershipFactory(tenant=tenant, role="owner")
    booking = BookingFactory(tenant=tenant, couple_name="Ada & Grace")

    send_booking_confirmed(tenant_id=tenant.pk, booking_id=booking.pk)

    couple, staff = mail.outbox
    link = f"https://altar.example/admin/bookings/booking/{booking.pk}/change/"
    assert f"Open it in Altar: {link}" in staff.body
    assert "/admin/" not in couple.body


# --- blackouts from the admin ------------------------------------------------------


def _form_codes(response, field: str) -> list[str]:
    form = response.context["adminform"].form
    return [error.code for error in form.errors.as_data().get(field, [])]


def test_duplicate_blackout_says_already_blacked_out_and_keeps_its_reason(client, tenant, unscoped):
    from bookings.models import BlackoutDate

    day = timezone.localdate() + dt.timedelta(days=30)
    BlackoutDate.objects.create(tenant=tenant, date=day, reason="Family wedding")
    owner_of(client, tenant)

    response = client.post(
        "/admin/bookings/blackoutdate/add/", {"date": day.isoformat(), "reason": "Holiday"}
    )

    assert response.status_code == 200
    assert _form_codes(response, "date") == ["already_blacked_out"]
    assert list(BlackoutDate.objects.values_list("reason", flat=True)) == ["Family wedding"]


def test_blackout_on_a_booked_or_held_day_is_refused_with_the_reason(client, tenant, unscoped):
    from bookings.models import BlackoutDate

    booked_day = timezone.localdate() + dt.timedelta(days=30)
    held_day = booked_day + dt.timedelta(days=1)
    BookingFactory(tenant=tenant, couple_name="Ada & Grace", event_date=booked_day)
    BookingFactory(
        tenant=tenant,
        couple_name="Hedy & Alan",
        event_date=held_day,
        status="held",
        hold_expires_at=timezone.now() + dt.timedelta(minutes=20),
    )
    owner_of(client, tenant)

    booked = client.post("/admin/bookings/blackoutdate/add/", {"date": booked_day.isoformat()})
    held = client.post("/admin/bookings/blackoutdate/add/", {"date": held_day.isoformat()})

    assert _form_codes(booked, "date") == ["date_booked"]
    assert "Ada &amp; Grace have booked this date" in booked.content.decode()
    assert _form_codes(held, "date") == ["date_held"]
    assert BlackoutDate.objects.count() == 0


# --- the couple's details, editable and audited --------------------------------------


def _change_body(page, **overrides) -> dict:
    form = page.context["adminform"].form
    body = {name: form[name].value() or "" for name in ("couple_name", "email", "phone", "notes")}
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        body.update({management.add_prefix(k): v or 0 for k, v in management.initial.items()})
        # What the page's hidden inputs send back for each row shown.
        for form in formset.initial_forms:
            body[form.add_prefix(formset.model._meta.pk.name)] = form.instance.pk
            body[form.add_prefix(formset.fk.name)] = formset.instance.pk
    body.update(overrides)
    return body


def test_staff_correct_the_couples_contact_details_and_it_is_audited(client, tenant, unscoped):
    from tenants.models import AuditEntry

    booking = BookingFactory(tenant=tenant, couple_name="Ada & Grace", email="ada@exmaple.com")
    owner = owner_of(client, tenant)
    url = f"/admin/bookings/booking/{booking.pk}/change/"

    response = client.post(
        url,
        _change_body(client.get(url), email="ada@example.com", notes="Vegetarian dinner"),
    )

    assert response.status_code == 302
    booking.refresh_from_db()
    assert (booking.email, booking.notes, booking.status) == (
        "ada@example.com",
        "Vegetarian dinner",
        "confirmed",
    )
    entry = AuditEntry.objects.get(action="booking.contact_updated")
    # Which fields changed, by whom; the couple's data itself stays out of the log.
    assert entry.changes == {"notes": ["", "<set>"], "contact_fields": [[], ["email", "notes"]]}
    assert entry.actor_user_id == owner.pk


def test_an_invalid_email_is_a_form_error_and_changes_nothing(client, tenant, unscoped):
    from tenants.models import AuditEntry

    booking = BookingFactory(tenant=tenant, email="ada@example.com")
    owner_of(client, tenant)
    url = f"/admin/bookings/booking/{booking.pk}/change/"

    response = client.post(url, _change_body(client.get(url), email="not an address"))

    assert response.status_code == 200
    assert _form_codes(response, "email") == ["invalid"]
    booking.refresh_from_db()
    assert booking.email == "ada@example.com"
    assert AuditEntry.objects.filter(action="booking.contact_updated").count() == 0


def test_fixed_deposits_are_shown_in_units_on_package_and_settings_pages(client, tenant, unscoped):
    from tests.factories import PackageFactory

    Tenant.objects.filter(pk=tenant.pk).update(plan_deposit_cents=25_000)
    package = PackageFactory(tenant=tenant, plan_deposit_cents=12_345)
    owner_of(client, tenant)

    settings_page = client.get(f"/admin/tenants/tenant/{tenant.pk}/change/").content.decode()
    package_page = client.get(f"/admin/catalog/package/{package.pk}/change/").content.decode()

    assert "Fixed deposit (USD)" in settings_page and 'value="250.00"' in settings_page
    assert "Fixed deposit (USD)" in package_page and 'value="123.45"' in package_page
    assert "minor units" not in settings_page + package_page


def test_every_kind_of_admin_page_loads_altars_stylesheets(client, tenant, unscoped):
    # The lists replace the stylesheet block of the base template (for the
    # CSP nonce): they must still load Altar's styles (the tool links, the
    # tenant name, the summary card).
    owner_of(client, tenant)
    booking = BookingFactory(tenant=tenant)
    pages = [
        "/admin/",
        "/admin/bookings/booking/",
        f"/admin/bookings/booking/{booking.pk}/change/",
        "/admin/bookings/booking/calendar/",
        f"/admin/tenants/tenant/{tenant.pk}/change/",
    ]

    links = [
        client.get(url).content.decode().count('href="/static/backoffice/backoffice.css"')
        for url in pages
    ]

    assert links == [1, 1, 1, 1, 1]


def test_booking_page_shows_only_the_records_it_has(client, tenant, unscoped):
    from tests.factories import BookingAddOnFactory

    owner_of(client, tenant)
    held = BookingFactory(tenant=tenant, status=Booking.Status.HELD)
    paid = BookingFactory(tenant=tenant)
    BookingAddOnFactory(booking=paid, title="Flowers")

    held_page = client.get(f"/admin/bookings/booking/{held.pk}/change/")
    paid_page = client.get(f"/admin/bookings/booking/{paid.pk}/change/")

    def shown(page) -> list[str]:
        return [str(i.opts.verbose_name_plural) for i in page.context["inline_admin_formsets"]]

    assert shown(held_page) == []
    assert shown(paid_page) == ["add-ons booked", "payments (ledger)"]


# --- page headers: each page says what it is -----------------------------------


def header_trail(html: str) -> list[str]:
    """The header's title as read: its parts, in order (unfold's header h1)."""
    header = re.search(r'<div id="header-inner".*?<h1[^>]*>(.*?)</h1>', html, re.S).group(1)
    parts = re.findall(r"<(?:a|span) [^>]*truncate[^>]*>(.*?)</(?:a|span)\s*>", header, re.S)
    return [unescape(" ".join(part.split())) for part in parts]


def test_each_booking_action_page_names_the_action_and_the_booking(client, tenant, unscoped):
    confirmed = BookingFactory(
        tenant=tenant,
        couple_name="Ada & Grace",
        status="confirmed",
        event_date=dt.date(2031, 12, 13),
    )
    held = BookingFactory(
        tenant=tenant, couple_name="Hedy & Alan", status="held", event_date=dt.date(2031, 12, 20)
    )
    owner_of(client, tenant)
    pages = {
        "cancel": (confirmed, "Cancel booking"),
        "move": (confirmed, "Move booking"),
        "offline-payment": (confirmed, "Record an offline payment"),
        "balance-link": (confirmed, "Send the balance pay link"),
        "resend-confirmation": (confirmed, "Resend the confirmation e-mail"),
        "release": (held, "Release hold"),
    }

    shown = {}
    for path, (booking, _) in pages.items():
        response = client.get(f"/admin/bookings/booking/{booking.pk}/{path}/")
        assert response.status_code == 200, path
        html = response.content.decode()
        shown[path] = (
            header_trail(html),
            unescape(re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip()),
        )

    assert shown == {
        path: (
            ["Bookings", str(booking), action],
            f"{action} — {booking} | Altar",
        )
        for path, (booking, action) in pages.items()
    }
    assert shown["cancel"] == (
        ["Bookings", "13 Dec 2031 · Ada & Grace", "Cancel booking"],
        "Cancel booking — 13 Dec 2031 · Ada & Grace | Altar",
    )


def test_calendar_header_says_calendar(client, tenant, unscoped):
    owner_of(client, tenant)

    html = client.get("/admin/bookings/booking/calendar/").content.decode()

    assert header_trail(html) == ["Calendar"]
    assert re.search(r"<title>(.*?)</title>", html, re.S).group(1).strip() == "Calendar | Altar"


def test_the_booking_page_header_is_unchanged(client, tenant, unscoped):
    booking = BookingFactory(
        tenant=tenant, couple_name="Ada & Grace", event_date=dt.date(2031, 12, 13)
    )
    owner_of(client, tenant)

    html = client.get(f"/admin/bookings/booking/{booking.pk}/change/").content.decode()

    assert header_trail(html) == ["Bookings", "Bookings", "13 Dec 2031 · Ada & Grace"]


# --- Stripe ids only inside the folded "Payment details" ------------------------

STRIPE_ID = re.compile(r"\b(?:acct|cs|pi|ch|re|dp|du|evt|cus|pm)_[A-Za-z0-9_]+")


def test_stripe_ids_appear_only_in_the_folded_payment_details(client, tenant, unscoped):
    Tenant.objects.filter(pk=tenant.pk).update(stripe_account_id="acct_1Owner")
    booking = BookingFactory(
        tenant=tenant,
        couple_name="Ada & Grace",
        amount_cents=180_000,
        stripe_checkout_session_id="cs_test_1Ada",
        stripe_payment_intent_id="pi_1Ada",
        stripe_account_id="acct_1Owner",
    )
    payment = booking.payments.get()
    BookingRefund.objects.create(
        tenant=tenant,
        booking=booking,
        payment=payment,
        stripe_refund_id="re_1Ada",
        amount_cents=10_000,
        status=BookingRefund.Status.SUCCEEDED,
        reason=BookingRefund.Reason.STRIPE_DASHBOARD,
    )
    PaymentReview.objects.create(
        tenant=tenant,
        booking=booking,
        reason=PaymentReview.Reason.AMOUNT_MISMATCH,
        stripe_event_id="evt_1Ada",
        stripe_checkout_session_id="cs_test_2Ada",
        stripe_payment_intent_id="pi_2Ada",
        amount_cents=1,
        currency="usd",
        payment_status="paid",
    )
    BookingDispute.objects.create(
        tenant=tenant,
        booking=booking,
        stripe_dispute_id="du_1Ada",
        stripe_charge_id="ch_1Ada",
        amount_cents=180_000,
        currency="usd",
        reason="fraudulent",
        status="needs_response",
        stripe_event_created=1,
    )
    owner_of(client, tenant)

    page = client.get(f"/admin/bookings/booking/{booking.pk}/change/")
    html = page.content.decode()
    fieldsets = {fieldset.name: fieldset for fieldset in page.context["adminform"]}
    details = fieldsets["Payment details"]
    # The folded group as rendered: from its <details> to the next group.
    start = html.index("Payment details")
    folded_start = html.rindex("<details", 0, start)
    folded = html[folded_start : html.index("</details>", start)]
    references = next(
        field.contents()
        for line in details
        for field in line
        if field.field["name"] == "stripe_references"
    )

    assert page.status_code == 200
    assert details.classes == "collapse"
    assert sorted(set(STRIPE_ID.findall(folded))) == [
        "acct_1Owner",
        "ch_1Ada",
        "cs_test_1Ada",
        "cs_test_2Ada",
        "du_1Ada",
        "evt_1Ada",
        "pi_1Ada",
        "pi_2Ada",
        "re_1Ada",
    ]
    outside = html[:folded_start] + html[html.index("</details>", start) :]
    assert STRIPE_ID.findall(outside) == []
    assert references == (
        '<ul class="altar-stripe-ids">'
        "<li>Deposit (paid at booking), 1,800.00 USD: <code>pi_1Ada</code></li>"
        "<li>Refund of 100.00 USD: <code>re_1Ada</code></li>"
        "<li>Payment needing review: <code>cs_test_2Ada, pi_2Ada, evt_1Ada</code></li>"
        "<li>Dispute: <code>du_1Ada, ch_1Ada</code></li>"
        "</ul>"
    )
    # The ledger's columns: no Stripe id among them.
    ledger = next(
        inline
        for inline in page.context["inline_admin_formsets"]
        if inline.formset.model is BookingPayment
    )
    assert [capfirst(str(field["label"])) for field in ledger.fields()] == [
        "Kind",
        "Status",
        "Amount",
        "Commission (application fee)",
        "Failure",
        "Note",
        "Created at",
    ]
