"""E-mails about bookings. Services schedule them with `transaction.on_commit`
at the state transition that causes them, so a rolled-back change sends
nothing and a repeated event (no transition) sends nothing twice.

Each function takes ids, not objects: it runs after the commit, outside the
caller's tenant scope, so it re-reads the booking inside its tenant's scope.
"""

from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from uuid import UUID

from babel import Locale
from babel.numbers import format_currency
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import formats, timezone, translation
from django.utils.translation import gettext

from bookings.manage_links import manage_link_max_age, manage_url
from bookings.models import Booking, BookingDateChange, BookingRefund
from bookings.selectors import tenant_today
from tenants.models import Tenant, TenantMembership
from tenants.money_fields import money_text
from tenants.scoping import tenant_scope
from tenants.validators import ZERO_DECIMAL_CURRENCIES

logger = logging.getLogger("altar.notifications")


def format_money(cents: int, currency: str) -> str:
    if currency in ZERO_DECIMAL_CURRENCIES:
        return f"{cents:,} {currency.upper()}"
    return f"{cents // 100:,}.{cents % 100:02d} {currency.upper()}"


def currency_digits(currency: str) -> int:
    """Digits after the decimal point in Stripe's minor units."""
    return 0 if currency in ZERO_DECIMAL_CURRENCIES else 2


def format_money_localized(cents: int, currency: str, locale: str | None = None) -> str:
    """Money as a couple reads it in `locale` (default: the active language):
    "$1,623.45", "1.623,45 US$", "¥1,623". Minor units follow Stripe's rule
    (zero-decimal currencies such as JPY show no decimals)."""
    digits = currency_digits(currency)
    amount = Decimal(cents).scaleb(-digits)
    return format_currency(
        amount,
        currency.upper(),
        locale=babel_locale(locale),
        currency_digits=False,
        format_type="standard",
        decimal_quantization=True,
        group_separator=True,
        numbering_system="latn",
        **({"format": _whole_units_pattern(locale)} if digits == 0 else {}),
    )


def _whole_units_pattern(locale: str | None) -> str:
    # The locale's own currency pattern without its fraction digits.
    pattern = Locale.parse(babel_locale(locale)).currency_formats["standard"].pattern
    return pattern.split(";")[0].replace(".00", "")


# A wedding date written out, per language ("Saturday, 5 December 2026",
# "sábado, 5 de diciembre de 2026"); Django's own DATE_FORMAT is terser.
LONG_DATE_FORMATS = {"en": "l, j F Y", "es": r"l, j \d\e F \d\e Y"}


def long_date(day: dt.date) -> str:
    language = (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
    return formats.date_format(day, LONG_DATE_FORMATS.get(language, "l, j F Y"))


def policy_lines(
    *, tiers: list[dict] | None, event_date: dt.date | None, today: dt.date | None = None
) -> list[str]:
    """The cancellation tiers in plain words, in the active language: "Cancel
    by Wednesday, 3 March 2027 for a refund of 100 % of what you paid.", or,
    before a date is chosen, "Cancel at least 180 days before the wedding
    for …". Ends with what is left when the last tier has passed. With
    `today`, tiers whose last day has passed are left out (a couple reading
    it now cannot meet them)."""
    ordered = sorted(tiers or [], key=lambda t: -t["days_before"])
    lines = []
    for tier in ordered:
        percent = tier["refund_percent"]
        if event_date is not None:
            cancel_by = event_date - dt.timedelta(days=tier["days_before"])
            if today is not None and cancel_by < today:
                continue
            lines.append(
                gettext("Cancel by %(date)s for a refund of %(percent)s %% of what you paid.")
                % {"date": long_date(cancel_by), "percent": percent}
            )
        else:
            lines.append(
                gettext(
                    "Cancel at least %(days)s days before the wedding for a refund of "
                    "%(percent)s %% of what you paid."
                )
                % {"days": tier["days_before"], "percent": percent}
            )
    if ordered and not (ordered[-1]["days_before"] == 0):
        lines.append(gettext("After that, there is no refund."))
    return lines


def babel_locale(locale: str | None) -> str:
    return (locale or translation.get_language() or settings.LANGUAGE_CODE).replace("-", "_")


def _ics_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def booking_ics(booking: Booking) -> str:
    """An all-day calendar event for the wedding date (RFC 5545). One UID
    per booking for its whole life: a moved date re-sends it with a higher
    SEQUENCE (calendars update the entry), a canceled booking sends
    METHOD:CANCEL with STATUS:CANCELLED (calendars remove it)."""
    day = booking.event_date
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    canceled = booking.status == Booking.Status.CANCELED
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Altar//Bookings//EN",
        f"METHOD:{ics_method(booking)}",
        "BEGIN:VEVENT",
        f"UID:booking-{booking.pk}@altar",
        f"SEQUENCE:{booking.ics_sequence}",
        f"DTSTAMP:{stamp}",
        f"DTSTART;VALUE=DATE:{day:%Y%m%d}",
        f"DTEND;VALUE=DATE:{day + dt.timedelta(days=1):%Y%m%d}",
        f"SUMMARY:{_ics_escape(f'{booking.package.title} — {booking.tenant.name}')}",
        f"DESCRIPTION:{_ics_escape(f'Booking {booking.pk}')}",
        *(["STATUS:CANCELLED"] if canceled else []),
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    return "\r\n".join(lines) + "\r\n"


def ics_method(booking: Booking) -> str:
    return "CANCEL" if booking.status == Booking.Status.CANCELED else "PUBLISH"


def couple_language(booking: Booking) -> str:
    """The couple's e-mails speak the language they booked in (else the
    business's default); staff e-mails stay in the platform's language."""
    return booking.language or booking.tenant.default_language or settings.LANGUAGE_CODE


def _staff_recipients(tenant: Tenant) -> list[str]:
    emails = set(
        # A pending invitation is nobody's yet: no booking mail to it.
        TenantMembership.objects.filter(
            tenant=tenant, user__is_active=True, status=TenantMembership.Status.ACCEPTED
        )
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )
    if tenant.contact_email:
        emails.add(tenant.contact_email)
    return sorted(emails)


def _context(booking: Booking) -> dict:
    return {
        "booking": booking,
        "tenant": booking.tenant,
        "add_ons": list(booking.add_on_lines.all()),
        "event_date": long_date(booking.event_date),
        "total": format_money_localized(booking.amount_cents, booking.currency),
        "refunded": format_money_localized(booking.refunded_cents, booking.currency),
        "manage_url": manage_url(booking.pk),
        # Staff e-mails open the booking's page in the admin in one click.
        "admin_url": settings.PUBLIC_BASE_URL.rstrip("/")
        + reverse("admin:bookings_booking_change", args=[booking.pk]),
        "manage_days": manage_link_max_age().days,
        "format_money": format_money,
        "policy_lines": policy_lines(
            tiers=booking.cancellation_policy,
            event_date=booking.event_date,
            today=tenant_today(tenant=booking.tenant),
        ),
        "refund_total": format_money_localized(refund_total_cents(booking), booking.currency),
        "refund_total_cents": refund_total_cents(booking),
    }


def staff_date(day: dt.date) -> str:
    """A date as the staff pages write it: the locale's one DATE_FORMAT
    (config/formats: "4 May 2030"), in subjects and bodies alike."""
    return formats.date_format(day, "DATE_FORMAT")


def _staff_context(booking: Booking) -> dict:
    """The couple's context, with dates and money as the admin shows them
    ("4 May 2030", "1,623.45 USD") rather than in the couple's words."""
    return {
        **_context(booking),
        "event_date": staff_date(booking.event_date),
        "total": money_text(booking.amount_cents, booking.currency),
        "refunded": money_text(booking.refunded_cents, booking.currency),
        "refund_total": money_text(refund_total_cents(booking), booking.currency),
    }


def refund_total_cents(booking: Booking) -> int:
    """Refunded plus on its way (requested or pending at Stripe)."""
    live = (
        BookingRefund.Status.REQUESTED,
        BookingRefund.Status.PENDING,
        BookingRefund.Status.SUCCEEDED,
    )
    return sum(r.amount_cents for r in booking.refunds.all() if r.status in live)


def _send(
    subject: str,
    template: str,
    context: dict,
    to: list[str],
    reply_to: str = "",
    ics: str | None = None,
) -> None:
    if not to:
        return
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string(template, context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=to,
        reply_to=[reply_to] if reply_to else None,
    )
    if ics:
        method = "CANCEL" if "\r\nMETHOD:CANCEL\r\n" in ics else "PUBLISH"
        message.attach("wedding.ics", ics, f"text/calendar; charset=utf-8; method={method}")
    message.send()


def _load(tenant_id: int, booking_id: UUID) -> tuple[Tenant, Booking]:
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        booking = Booking.objects.select_related("package", "tenant").get(pk=booking_id)
    return tenant, booking


def send_booking_confirmed(*, tenant_id: int, booking_id: UUID, notify_staff: bool = True) -> None:
    """To the couple (with an .ics) and, unless it is a resend, to the tenant's staff."""
    tenant, booking = _load(tenant_id, booking_id)
    with tenant_scope(tenant):
        with translation.override(couple_language(booking)):
            _send(
                gettext("Your wedding date is confirmed: %(date)s")
                % {"date": long_date(booking.event_date)},
                "emails/booking_confirmed.txt",
                _context(booking),
                [booking.email],
                reply_to=tenant.contact_email,
                ics=booking_ics(booking),
            )
        if notify_staff:
            with translation.override(settings.LANGUAGE_CODE):
                _send(
                    f"New confirmed booking: {staff_date(booking.event_date)}",
                    "emails/booking_confirmed_staff.txt",
                    _staff_context(booking),
                    _staff_recipients(tenant),
                )


def send_booking_canceled(*, tenant_id: int, booking_id: UUID) -> None:
    """To the couple and the staff: the booking ended canceled (with any refund)."""
    tenant, booking = _load(tenant_id, booking_id)
    with tenant_scope(tenant):
        with translation.override(couple_language(booking)):
            _send(
                gettext("Your booking for %(date)s was canceled")
                % {"date": long_date(booking.event_date)},
                "emails/booking_canceled.txt",
                _context(booking),
                [booking.email],
                reply_to=tenant.contact_email,
                ics=booking_ics(booking),
            )
        with translation.override(settings.LANGUAGE_CODE):
            _send(
                f"Booking canceled: {staff_date(booking.event_date)}",
                "emails/booking_canceled_staff.txt",
                _staff_context(booking),
                _staff_recipients(tenant),
                ics=booking_ics(booking),
            )


def send_balance_reminder(*, tenant_id: int, booking_id: UUID, kind: str) -> None:
    """A balance e-mail to the couple, in the booking's language: the notice
    before the card is charged, the failure (with the pay link: the manage
    page), an overdue or pre-wedding reminder, or a link staff sent."""
    tenant, booking = _load(tenant_id, booking_id)
    with tenant_scope(tenant), translation.override(couple_language(booking)):
        due = max(0, booking.amount_cents - booking.paid_cents)
        context = {
            **_context(booking),
            "kind": kind.rsplit("_", 1)[0] if kind[-1].isdigit() else kind,
            "balance": format_money_localized(due, booking.currency),
            "due_on": long_date(booking.balance_due_on) if booking.balance_due_on else "",
            "card_last4": booking.card_last4,
        }
        if kind == "balance_upcoming":
            subject = gettext("Your balance of %(amount)s will be charged on %(date)s") % {
                "amount": context["balance"],
                "date": context["due_on"],
            }
        elif kind == "balance_failed":
            subject = gettext("We could not charge your balance of %(amount)s") % {
                "amount": context["balance"]
            }
        else:
            subject = gettext("Your balance of %(amount)s for %(date)s") % {
                "amount": context["balance"],
                "date": long_date(booking.event_date),
            }
        _send(
            subject,
            "emails/balance_reminder.txt",
            context,
            [booking.email],
            reply_to=tenant.contact_email,
        )


def _load_change(tenant_id: int, change_id: int):
    tenant = Tenant.objects.get(pk=tenant_id)
    with tenant_scope(tenant):
        change = BookingDateChange.objects.select_related(
            "booking", "booking__package", "booking__tenant"
        ).get(pk=change_id)
    return tenant, change


def _change_context(change) -> dict:
    booking = change.booking
    return {
        **_context(booking),
        "change": change,
        "from_date": long_date(change.from_date),
        "to_date": long_date(change.to_date),
        "due": format_money_localized(change.due_cents, booking.currency),
        "refund": format_money_localized(change.refund_cents, booking.currency),
        "fee": format_money_localized(change.fee_cents, booking.currency),
    }


def _staff_change_context(change) -> dict:
    booking = change.booking

    def money(cents: int) -> str:
        return money_text(cents, booking.currency)

    return {
        **_staff_context(booking),
        "change": change,
        "from_date": staff_date(change.from_date),
        "to_date": staff_date(change.to_date),
        "price_before": money(change.amount_before_cents),
        "price_after": money(change.amount_after_cents),
        "due": money(change.due_cents),
        "refund": money(change.refund_cents),
        "fee": money(change.fee_cents),
    }


def send_date_changed(*, tenant_id: int, change_id: int) -> str:
    """To the couple and the staff: the new date and the calendar update
    (same UID, the booking's current SEQUENCE). Once per change."""
    tenant, change = _load_change(tenant_id, change_id)
    if change.mailed_at is not None:
        return "already sent"
    booking = change.booking
    with tenant_scope(tenant):
        with translation.override(couple_language(booking)):
            _send(
                gettext("Your wedding date has moved to %(date)s")
                % {"date": long_date(change.to_date)},
                "emails/booking_date_changed.txt",
                _change_context(change),
                [booking.email],
                reply_to=tenant.contact_email,
                ics=booking_ics(booking),
            )
        with translation.override(settings.LANGUAGE_CODE):
            _send(
                f"Booking moved: {staff_date(change.from_date)} → {staff_date(change.to_date)}",
                "emails/booking_date_changed_staff.txt",
                _staff_change_context(change),
                _staff_recipients(tenant),
                ics=booking_ics(booking),
            )
        BookingDateChange.objects.filter(pk=change.pk).update(mailed_at=timezone.now())
    return "sent"


def send_date_change_pay_link(*, tenant_id: int, change_id: int) -> str:
    """To the couple: the link to pay what the date change left due."""
    tenant, change = _load_change(tenant_id, change_id)
    if change.pay_link_mailed_at is not None or not change.checkout_url:
        return "nothing to send"
    if change.payment != BookingDateChange.Payment.DUE:
        return "nothing due (paid, or replaced by a later change)"
    booking = change.booking
    with tenant_scope(tenant), translation.override(couple_language(booking)):
        _send(
            gettext("Payment for your date change: %(amount)s")
            % {"amount": format_money_localized(change.due_cents, booking.currency)},
            "emails/date_change_pay_link.txt",
            _change_context(change),
            [booking.email],
            reply_to=tenant.contact_email,
        )
        BookingDateChange.objects.filter(pk=change.pk).update(pay_link_mailed_at=timezone.now())
    return "sent"
