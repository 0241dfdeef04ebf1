"""What the couple-facing pages show, built from the same selectors and
cached catalog the API serves (no second copy of any rule): packages with
prices in the page's locale, the month calendar with reasons in words, and
the sentences for every refusal a couple can meet."""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass, field

from babel.numbers import get_decimal_symbol, get_group_symbol
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from bookings.agreements import ANSWER_MESSAGES
from bookings.models import BookingQuestion
from bookings.notifications import (
    babel_locale,
    currency_digits,
    format_money_localized,
    long_date,
)
from bookings.selectors import availability_for_range, tenant_today
from catalog.cache import catalog_package_list_cached
from tenants.models import Tenant

# Availability's reasons, as a couple reads them under a calendar day.
REASON_WORDS = {
    "past": gettext_lazy("past"),
    "booked": gettext_lazy("booked"),
    "held": gettext_lazy("on hold"),
    "blackout": gettext_lazy("unavailable"),
    "too_soon": gettext_lazy("too soon"),
    "too_far": gettext_lazy("too far"),
}


@dataclass(frozen=True)
class AddOnView:
    slug: str
    title: str
    description: str
    price_cents: int
    price: str


@dataclass(frozen=True)
class PackageView:
    slug: str
    title: str
    description: str
    price_cents: int
    price: str
    photos: list[dict]
    add_ons: list[AddOnView] = field(default_factory=list)


def money(cents: int, currency: str) -> str:
    return format_money_localized(cents, currency)


def money_format(currency: str) -> dict[str, str]:
    """How the page's script formats the running total exactly as the server
    does: the locale's separators and the currency pattern around "{n}"."""
    locale = babel_locale(None)
    digits = currency_digits(currency)
    one = money(10**digits, currency)  # "$1.00", "1,00 US$", "¥1"
    number = "1" if digits == 0 else "1" + get_decimal_symbol(locale) + "0" * digits
    return {
        "pattern": one.replace(number, "{n}", 1),
        "decimal": get_decimal_symbol(locale),
        "group": get_group_symbol(locale),
        "digits": str(digits),
    }


def photo_view(photo: dict) -> dict:
    """A package photo as the page's <img>: the smallest copy as src, every
    copy in srcset (the browser picks by the card's width and the screen's
    density), and width/height of the src so the layout does not shift."""
    copies = [*photo.get("thumbnails", []), photo]
    first = copies[0]
    return {
        "src": first["url"],
        "width": first["width"],
        "height": first["height"],
        "alt": photo["alt"],
        "srcset": ", ".join(f"{c['url']} {c['width']}w" for c in copies) if len(copies) > 1 else "",
    }


def packages_for(tenant: Tenant) -> list[PackageView]:
    """The tenant's active packages (the API's cached list). Run in scope."""
    currency = tenant.currency
    return [
        PackageView(
            slug=p["slug"],
            title=p["title"],
            description=p["description"],
            price_cents=p["price_cents"],
            price=money(p["price_cents"], currency),
            photos=[photo_view(photo) for photo in p["photos"]],
            add_ons=[
                AddOnView(
                    slug=a["slug"],
                    title=a["title"],
                    description=a["description"],
                    price_cents=a["price_cents"],
                    price=money(a["price_cents"], currency),
                )
                for a in p["add_ons"]
            ],
        )
        for p in catalog_package_list_cached(tenant=tenant)
    ]


@dataclass(frozen=True)
class CalendarDay:
    date: dt.date
    in_month: bool
    reason: str | None  # None: free

    @property
    def free(self) -> bool:
        return self.reason is None

    @property
    def word(self) -> str:
        return str(REASON_WORDS[self.reason]) if self.reason else _("free")

    @property
    def long(self) -> str:
        return long_date(self.date)

    @property
    def label(self) -> str:
        return f"{self.long}: {self.word}"


@dataclass(frozen=True)
class CalendarMonth:
    month: dt.date  # first day
    title: str
    weekdays: list[str]
    weeks: list[list[CalendarDay]]
    previous: dt.date | None
    next: dt.date | None


def month_start(day: dt.date, months_later: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + months_later
    return dt.date(index // 12, index % 12 + 1, 1)


def bookable_range(tenant: Tenant) -> tuple[dt.date, dt.date]:
    today = tenant_today(tenant=tenant)
    return (
        today + dt.timedelta(days=tenant.min_notice_days),
        today + dt.timedelta(days=tenant.max_advance_days),
    )


def calendar_month(*, tenant: Tenant, month: dt.date) -> CalendarMonth:
    """One month (Monday first) with each day's availability: the API's
    selector (two queries). Months outside the booking window are clamped."""
    first, last = bookable_range(tenant)
    month = min(max(month_start(month), month_start(first)), month_start(last))
    weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(month.year, month.month)
    reasons = {
        entry.date: entry.reason
        for entry in availability_for_range(tenant=tenant, start=weeks[0][0], end=weeks[-1][-1])
    }
    return CalendarMonth(
        month=month,
        title=formats.date_format(month, "F Y"),
        weekdays=[formats.date_format(day, "D") for day in weeks[0]],
        weeks=[
            [CalendarDay(day, day.month == month.month, reasons.get(day)) for day in week]
            for week in weeks
        ],
        previous=month_start(month, -1) if month > month_start(first) else None,
        next=month_start(month, 1) if month < month_start(last) else None,
    )


def date_refusal(*, reason: str, day: dt.date, tenant: Tenant) -> str:
    """Why the date cannot be booked, and what to do instead."""
    when = long_date(day)
    sentences = {
        "booked": _(
            "Sorry, %(date)s has just been booked by another couple. Please pick another date."
        ),
        "held": _(
            "%(date)s is being held for another couple who is paying right now. "
            "Please pick another date, or check again in %(minutes)s minutes."
        ),
        "blackout": _("%(business)s is not available on %(date)s. Please pick another date."),
        "past": _("%(date)s is in the past. Please pick a date from the calendar."),
        "too_soon": _(
            "%(date)s is too soon: %(business)s needs at least %(days)s days' notice. "
            "Please pick a later date."
        ),
        "too_far": _(
            "%(date)s is too far ahead: %(business)s takes bookings up to %(max_days)s days "
            "ahead. Please pick an earlier date."
        ),
    }
    return sentences[reason] % {
        "date": when,
        "business": tenant.name,
        "minutes": tenant.hold_minutes,
        "days": tenant.min_notice_days,
        "max_days": tenant.max_advance_days,
    }


def receipt_lines(booking) -> tuple[list[tuple[str, str]], str]:
    """(title, price) per line as sold, and the total, in the page's locale."""
    add_ons = list(booking.add_on_lines.all())
    package_cents = booking.amount_cents - sum(line.price_cents for line in add_ons)
    lines = [(booking.package.title, money(package_cents, booking.currency))]
    lines += [(line.title, money(line.price_cents, booking.currency)) for line in add_ons]
    return lines, money(booking.amount_cents, booking.currency)


# --- booking questions and the cancellation policy (issue 14) ----------------------


@dataclass(frozen=True)
class QuestionField:
    question: BookingQuestion
    value: object
    errors: list

    @property
    def name(self) -> str:
        return f"answer_{self.question.key}"


ANSWER_WORDS = {
    "required": gettext_lazy("Please answer this question."),
    "max_length": gettext_lazy("This answer is too long."),
    "invalid_number": gettext_lazy("Enter a whole number."),
    "invalid_choice": gettext_lazy("Choose one of the options."),
    "invalid_date": gettext_lazy("Enter the date as YYYY-MM-DD."),
}


def answer_error(code: str) -> str:
    return str(ANSWER_WORDS.get(code, ANSWER_MESSAGES.get(code, code)))
