"""The bookings CSV export of the admin's list (the calendar and the
dashboard are backoffice's). Reads only."""

from __future__ import annotations

import csv
import datetime as dt
from typing import Any

from django.http import HttpResponse

from bookings.models import Booking
from bookings.selectors import booking_balance_due_cents

# --- CSV export ---------------------------------------------------------------

# A spreadsheet runs a cell starting with one of these as a formula (OWASP
# "CSV injection"); a leading apostrophe makes it plain text.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

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
    "amount_cents",
    "paid_cents",
    "refunded_cents",
    "commission_cents",
    "commission_refunded_cents",
    "balance_due_cents",
    "balance_due_on",
    "payments",
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


def _iso(value: dt.datetime | dt.date | None) -> str:
    return value.isoformat() if value is not None else ""


def booking_csv_row(booking: Booking) -> list[Any]:
    row = [
        str(booking.pk),
        booking.tenant.slug,
        _iso(booking.event_date),
        booking.status,
        booking.couple_name,
        booking.email,
        booking.phone,
        booking.package.title,
        ", ".join(line.title for line in booking.add_on_lines.all()),
        booking.currency,
        booking.amount_cents,
        booking.paid_cents,
        booking.refunded_cents,
        booking.commission_cents,
        booking.commission_refunded_cents,
        booking_balance_due_cents(booking),
        _iso(booking.balance_due_on),
        _ledger_cell(booking),
        _iso(booking.hold_expires_at),
        _iso(booking.created_at),
        _iso(booking.confirmed_at),
        _iso(booking.canceled_at),
        booking.cancel_reason,
        booking.notes,
        format_answers(booking),
    ]
    return [csv_safe(value) for value in row]


def _ledger_cell(booking: Booking) -> str:
    """The payments ledger in one cell: `kind:status:amount:fee[:stripe id]`
    per payment (each refund as `refund:status:amount`), `; `-separated."""
    parts = []
    for payment in booking.payments.all():
        parts.append(
            ":".join(
                str(v)
                for v in (
                    payment.kind,
                    payment.status,
                    payment.amount_cents,
                    payment.application_fee_cents,
                    payment.stripe_payment_intent_id or "",
                )
            ).rstrip(":")
        )
        parts += [
            f"refund:{refund.status}:{refund.amount_cents}" for refund in payment.refunds.all()
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
