"""The bookings CSV export of the admin's list (the calendar and the
dashboard are backoffice's). Reads only."""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.http import HttpResponse
from django.utils import timezone

from bookings.models import Booking
from bookings.selectors import booking_balance_due_cents
from tenants.validators import minor_per_major

# --- CSV export ---------------------------------------------------------------

# A spreadsheet runs a cell starting with one of these as a formula (OWASP
# "CSV injection"); a leading apostrophe makes it plain text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Money twice: in the currency's units for people ("1800.00", JPY "180000":
# a plain number a spreadsheet sums, the code in `currency`) and, beside
# it, the `*_cents` column in minor units for machines. Times are in the
# business's time zone (`time_zone`), as "2030-05-04 14:30", which
# spreadsheets read as a date-time.
CSV_COLUMNS = (
    "id",
    "tenant",
    "event_date",
    "status",
    "couple_name",
    "email",
    "phone",
    "package",
    "add_ons",
    "currency",
    "total",
    "amount_cents",
    "paid",
    "paid_cents",
    "refunded",
    "refunded_cents",
    "commission",
    "commission_cents",
    "commission_refunded",
    "commission_refunded_cents",
    "balance_due",
    "balance_due_cents",
    "balance_due_on",
    "payments",
    "payments_cents",
    "time_zone",
    "hold_expires_at",
    "created_at",
    "confirmed_at",
    "canceled_at",
    "cancel_reason",
    "notes",
    "answers",
)


def csv_safe(value: Any) -> Any:
    """Neutralise a text cell a spreadsheet would evaluate. Numbers are
    written as numbers (a negative amount never occurs: all are unsigned)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def units(cents: int, currency: str) -> Decimal:
    """Minor units as a number in the currency's units: 162345 USD ->
    1623.45, 180000 JPY -> 180000."""
    per_major = minor_per_major(currency)
    places = len(str(per_major)) - 1
    return (Decimal(cents) / per_major).quantize(Decimal(1).scaleb(-places))


def _day(value: dt.date | None) -> str:
    return value.isoformat() if value is not None else ""


def _local(value: dt.datetime | None, zone: ZoneInfo) -> str:
    return timezone.localtime(value, zone).strftime("%Y-%m-%d %H:%M") if value else ""


def booking_csv_row(booking: Booking) -> list[Any]:
    currency = booking.currency
    zone = ZoneInfo(booking.tenant.timezone)
    balance_due = booking_balance_due_cents(booking)
    row = [
        str(booking.pk),
        booking.tenant.slug,
        _day(booking.event_date),
        booking.status,
        booking.couple_name,
        booking.email,
        booking.phone,
        booking.package.title,
        ", ".join(line.title for line in booking.add_on_lines.all()),
        currency,
        units(booking.amount_cents, currency),
        booking.amount_cents,
        units(booking.paid_cents, currency),
        booking.paid_cents,
        units(booking.refunded_cents, currency),
        booking.refunded_cents,
        units(booking.commission_cents, currency),
        booking.commission_cents,
        units(booking.commission_refunded_cents, currency),
        booking.commission_refunded_cents,
        units(balance_due, currency),
        balance_due,
        _day(booking.balance_due_on),
        _ledger_cell(booking, in_units=True),
        _ledger_cell(booking, in_units=False),
        booking.tenant.timezone,
        _local(booking.hold_expires_at, zone),
        _local(booking.created_at, zone),
        _local(booking.confirmed_at, zone),
        _local(booking.canceled_at, zone),
        booking.cancel_reason,
        booking.notes,
        format_answers(booking),
    ]
    return [csv_safe(value) for value in row]


def _ledger_cell(booking: Booking, *, in_units: bool) -> str:
    """The payments ledger in one cell: `kind:status:amount:commission[:stripe id]`
    per payment (each refund as `refund:status:amount`), `; `-separated;
    amounts in units (`payments`) or minor units (`payments_cents`)."""

    def amount(cents: int) -> str:
        return str(units(cents, booking.currency)) if in_units else str(cents)

    parts = []
    for payment in booking.payments.all():
        parts.append(
            ":".join(
                (
                    payment.kind,
                    payment.status,
                    amount(payment.amount_cents),
                    amount(payment.application_fee_cents),
                    payment.stripe_payment_intent_id or "",
                )
            ).rstrip(":")
        )
        parts += [
            f"refund:{refund.status}:{amount(refund.amount_cents)}"
            for refund in payment.refunds.all()
        ]
    return "; ".join(parts)


def format_answers(booking: Booking) -> str:
    """The booking's answers as one cell: "guests: 12; venue: The barn"."""
    return "; ".join(f"{key}: {value}" for key, value in (booking.answers or {}).items())


def bookings_csv_response(queryset, *, filename: str) -> HttpResponse:
    """`queryset` is the changelist's own (filters, search, scope applied)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    rows = queryset.select_related("package", "tenant").prefetch_related(
        "add_on_lines", "payments__refunds"
    )
    for booking in rows:
        writer.writerow(booking_csv_row(booking))
    return response
