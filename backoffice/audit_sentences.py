"""Audit entries as staff read them: one sentence per kind of change.

"Maria canceled the booking for 3 Mar 2027 and refunded 900.00 USD" instead
of `booking.canceled {"status": ["confirmed", "canceled"], ...}`. The raw
before/after stays one click away (the history pages fold it under the
sentence; the entry's own page shows it in full).

Every action the services record has its template here, in one place
(tests/backoffice/test_audit_sentences.py has one exact sentence per kind);
an action without one still reads as a sentence (`_generic`). Money is in
the currency's units, dates in the locale's one format (config/formats),
times in the current (the business's) time zone. The sentences read only
the entry (its `changes`, `object_repr`, actor and tenant): entries outlive
the rows they name, and a list of entries costs no query per row beyond
the tenant and the acting user (select_related).

Here, not in tenants/: the sentences know the vocabulary of the apps above
tenants (bookings' statuses and reasons, the catalog's fields); the
backoffice is the floor that may know them all.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from django.utils import formats, timezone

from bookings.models import Booking, BookingRefund, PaymentReview
from tenants.models import AuditEntry
from tenants.money_fields import money_text

# --- reading an entry --------------------------------------------------------


class _Entry:
    """One entry with the helpers its sentence needs."""

    def __init__(self, entry: AuditEntry) -> None:
        self.entry = entry
        self.changes: dict[str, list[Any]] = entry.changes or {}

    def before(self, name: str) -> Any:
        return self._pair(name)[0]

    def after(self, name: str) -> Any:
        return self._pair(name)[1]

    def _pair(self, name: str) -> list[Any]:
        pair = self.changes.get(name, [None, None])
        if not isinstance(pair, list) or len(pair) != 2:
            # Not the [before, after] this module reads: entry_sentence
            # falls back to the generic sentence.
            raise ValueError(f"{name}: not a [before, after] pair")
        return pair

    @property
    def who(self) -> str:
        return actor_name(self.entry)

    @property
    def currency(self) -> str:
        recorded = self.after("currency") or self.after("reported_currency")
        if recorded:
            return str(recorded)
        tenant = self.entry.tenant
        return tenant.currency if tenant is not None else "usd"

    def money(self, cents: Any) -> str:
        return money_text(int(cents or 0), self.currency)

    @property
    def object_date(self) -> str:
        """The date an entry about a booking or blackout names: the repr
        starts with it ("2027-03-03 · booking …", "2027-03-03 Family")."""
        return day(self.entry.object_repr[:10])

    @property
    def booking(self) -> str:
        when = self.object_date
        return f"the booking for {when}" if when else "a booking"

    def title(self) -> str:
        """A catalog item's title as recorded (after, else before), else its repr."""
        return str(self.after("title") or self.before("title") or self.entry.object_repr)


def actor_name(entry: AuditEntry) -> str:
    """Who did it, as staff say it: a colleague by name, "The couple", "Stripe"."""
    kind = entry.actor_kind
    if kind == AuditEntry.ActorKind.STAFF:
        user = entry.actor_user if entry.actor_user_id else None
        if user is not None:
            return user.get_full_name() or user.get_username()
        return entry.actor_label or "A staff member"
    if kind == AuditEntry.ActorKind.COUPLE:
        return "The couple"
    if kind == AuditEntry.ActorKind.STRIPE:
        return "Stripe"
    if kind == AuditEntry.ActorKind.COMMAND:
        name = entry.actor_label.removeprefix("command:")
        return f"An Altar command ({name})" if name else "An Altar command"
    return "Altar"


def day(value: Any) -> str:
    """An ISO date as the locale writes it ("3 Mar 2027"); "" if not a date."""
    try:
        parsed = dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return ""
    return formats.date_format(parsed, "DATE_FORMAT")


def moment(value: Any) -> str:
    """An ISO date-time in the current time zone, as the locale writes it."""
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if timezone.is_aware(parsed):
        parsed = timezone.localtime(parsed)
    return formats.date_format(parsed, "DATETIME_FORMAT")


def _words(code: Any) -> str:
    return str(code or "").replace("_", " ").strip()


def _listed(items: list[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


# Field names as people say them; fields not listed read as their name.
FIELD_WORDS = {
    "title": "title",
    "slug": "web address (slug)",
    "description": "description",
    "price_cents": "price",
    "active": "available",
    "position": "position",
    "add_ons": "add-ons",
    "plan_kind": "payment plan",
    "plan_deposit_percent": "deposit percentage",
    "plan_deposit_cents": "fixed deposit",
    "plan_deposit_refundable": "deposit refundable",
    "plan_balance_days_before": "days before the wedding the balance is due",
    "alt": "description (alt text)",
    "image": "image",
    "name": "name",
    "contact_email": "contact e-mail",
    "currency": "currency",
    "timezone": "time zone",
    "commission_bps": "platform commission",
    "hold_minutes": "hold length (minutes)",
    "hold_limit_per_email": "holds per e-mail",
    "hold_limit_per_address": "holds per address",
    "hold_limit_per_tenant": "holds at once",
    "min_notice_days": "minimum notice (days)",
    "max_advance_days": "booking window (days)",
    "success_url_template": "page after payment",
    "cancel_url_template": "page after a canceled payment",
    "default_language": "default language",
    "cors_origins": "websites allowed to show the widget",
    "primary_color": "main colour",
    "secondary_color": "second colour",
    "font_family": "font",
    "logo": "logo",
    "couple_name": "name",
    "email": "e-mail",
    "phone": "phone",
    "notes": "notes",
}
# Values too long or too private to repeat in a sentence: the field is named only.
_NAMED_ONLY = {"description", "logo", "image", "cors_origins", "notes"}


def _value(item: _Entry, name: str, value: Any) -> str:
    if name.endswith("_cents"):
        return item.money(value)
    if name == "commission_bps":
        return f"{int(value or 0) / 100:g} %"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value in (None, "", []):
        return "none"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return f"“{value}”" if isinstance(value, str) else str(value)


def _field_changes(item: _Entry, skip: tuple[str, ...] = ()) -> str:
    """ "price from 1,800.00 USD to 2,000.00 USD, title from “A” to “B”"."""
    parts = []
    for name in item.changes:
        if name in skip:
            continue
        label = FIELD_WORDS.get(name, _words(name))
        old, new = item.before(name), item.after(name)
        shown = [_value(item, name, old), _value(item, name, new)]
        if name in _NAMED_ONLY or max(len(text) for text in shown) > 60:
            parts.append(label)
        else:
            parts.append(f"{label} from {shown[0]} to {shown[1]}")
    return _listed(parts)


def _changed(item: _Entry, what: str, skip: tuple[str, ...] = ()) -> str:
    details = _field_changes(item, skip)
    return f"{item.who} changed {what}" + (f": {details}" if details else "")


# --- the sentences, one per action ------------------------------------------------


def _package_created(item: _Entry) -> str:
    return (
        f"{item.who} added the package “{item.title()}” at {item.money(item.after('price_cents'))}"
    )


def _add_on_created(item: _Entry) -> str:
    return (
        f"{item.who} added the add-on “{item.title()}” at {item.money(item.after('price_cents'))}"
    )


def _photo_added(item: _Entry) -> str:
    return f"{item.who} added a photo to the package “{item.after('package')}”"


def _tenant_created(item: _Entry) -> str:
    return f"{item.who} created the business {item.after('name') or item.entry.object_repr}"


def _api_key_issued(item: _Entry) -> str:
    return f"{item.who} issued a new {item.after('kind')} API key ({item.after('prefix')}…)"


def _api_key_rotated(item: _Entry) -> str:
    until = item.after("valid_until")
    ends = f"keeps working until {moment(until)}" if until else "stopped working"
    return f"{item.who} replaced an API key ({_key_name(item)}); the old one {ends}"


def _key_name(item: _Entry) -> str:
    # "publishable key pk_abc… (3)": the tenant's id is noise here.
    return item.entry.object_repr.rsplit(" (", 1)[0]


def _member(item: _Entry) -> str:
    """A membership's person: "jo@example.com" from "jo@example.com (staff) @ 3"."""
    return item.after("user") or item.before("user") or item.entry.object_repr.split(" (")[0]


def _invitee(item: _Entry) -> str:
    # "invitation jo@example.com (staff)"
    return item.entry.object_repr.removeprefix("invitation ")


def _membership_created(item: _Entry) -> str:
    role = item.after("role")
    return (
        f"{item.who} added {_member(item)} to the team as {'an ' if role == 'owner' else ''}{role}"
    )


def _membership_role_changed(item: _Entry) -> str:
    return (
        f"{item.who} changed {_member(item)}'s role from {_words(item.before('role'))} "
        f"to {_words(item.after('role'))}"
    )


def _connect_updated(item: _Entry) -> str:
    states = []
    if "stripe_charges_enabled" in item.changes:
        on = item.after("stripe_charges_enabled")
        states.append("payments " + ("enabled" if on else "disabled"))
    if "stripe_transfers_active" in item.changes:
        on = item.after("stripe_transfers_active")
        states.append("payouts " + ("active" if on else "paused"))
    return f"{item.who} updated the business's Stripe account: {_listed(states)}"


def _policy_updated(item: _Entry) -> str:
    return f"{item.who} changed the cancellation and date-change policy"


def _question(verb: str) -> Callable[[_Entry], str]:
    return lambda item: f"{item.who} {verb} the booking question “{item.entry.object_repr}”"


def _booking_held(item: _Entry) -> str:
    when = day(item.after("event_date")) or item.object_date
    return (
        f"{item.who} held {when} for the package “{item.after('package')}” "
        f"at {item.money(item.after('amount_cents'))}"
    )


def _paid_amount(item: _Entry) -> int:
    return int(item.after("paid_cents") or 0) - int(item.before("paid_cents") or 0)


def _booking_paid_after_cancel(item: _Entry) -> str:
    return (
        f"{item.who} recorded a payment of {item.money(_paid_amount(item))} for {item.booking}, "
        "which was already canceled; it goes back in full"
    )


def _booking_confirmed(item: _Entry) -> str:
    return (
        f"{item.who} recorded a payment of {item.money(_paid_amount(item))} "
        f"and confirmed {item.booking}"
    )


def _booking_canceled(item: _Entry) -> str:
    reason = item.after("cancel_reason")
    if reason == Booking.CancelReason.DATE_TAKEN:
        return (
            f"{item.booking.capitalize()} was canceled: the payment came after the hold "
            "lapsed and the date was taken; it goes back in full"
        )
    refund = item.after("refund_decided_cents")
    if reason == Booking.CancelReason.COUPLE:
        sentence = f"{item.who} canceled {item.booking} under the policy"
        return sentence + (
            f", with a refund of {item.money(refund)}" if refund else ", with no refund"
        )
    sentence = f"{item.who} canceled {item.booking}"
    sentence += f" and refunded {item.money(refund)}" if refund else " with no refund"
    if item.after("policy_overridden"):
        policy = item.money(item.after("refund_policy_cents"))
        sentence += f" (the policy gave {policy})"
    return sentence


EXPIRE_WORDS = {
    "hold_lapsed": "the hold on {date} ran out without payment",
    "session_expired": "the payment page for {date} expired without payment",
    "payment_failed": "the payment for {date} failed; the date is free again",
    "couple_canceled": "the couple left the payment page; the hold on {date} ended",
}


def _booking_expired(item: _Entry) -> str:
    reason = item.after("expire_reason")
    template = EXPIRE_WORDS.get(reason, "the hold on {date} ended ({reason})")
    text = template.format(date=item.object_date or "a date", reason=_words(reason))
    return text[0].upper() + text[1:]


def _payment_review(item: _Entry) -> str:
    reason = (
        PaymentReview.Reason(item.after("payment_review")).label.lower()
        if (item.after("payment_review") in PaymentReview.Reason.values)
        else _words(item.after("payment_review"))
    )
    amount = item.money(item.after("reported_amount_cents"))
    return (
        f"{item.who} reported a payment of {amount} for {item.booking} that needs review: {reason}"
    )


def _disputed(item: _Entry) -> str:
    reason = _words(item.after("dispute_reason")) or "no reason given"
    amount = item.money(item.after("dispute_amount_cents"))
    return f"{item.who} reported a dispute of {amount} on {item.booking} ({reason})"


def _date_changed(item: _Entry) -> str:
    sentence = (
        f"{item.who} moved the booking from {day(item.before('event_date'))} "
        f"to {day(item.after('event_date'))}"
    )
    money = []
    for name, words in (
        ("change_fee_cents", "a change fee of {}"),
        ("refund_cents", "a refund of {}"),
        ("due_cents", "{} to pay"),
    ):
        if item.after(name):
            money.append(words.format(item.money(item.after(name))))
    return sentence + (f", with {_listed(money)}" if money else "")


def _date_change_paid(item: _Entry) -> str:
    return (
        f"{item.who} recorded the payment of {item.money(_paid_amount(item))} "
        f"for moving {item.booking}"
    )


def _blackout_added(item: _Entry) -> str:
    when = day(item.after("date")) or item.object_date
    reason = item.after("reason")
    return f"{item.who} blacked out {when}" + (f" (“{reason}”)" if reason else "")


def _blackout_updated(item: _Entry) -> str:
    reason = item.after("reason")
    return f"{item.who} changed the reason for the blackout on {item.object_date} to " + (
        f"“{reason}”" if reason else "none"
    )


def _blackout_deleted(item: _Entry) -> str:
    return f"{item.who} removed the blackout on {day(item.before('date')) or item.object_date}"


CONTACT_WORDS = {"couple_name": "name", "email": "e-mail", "phone": "phone", "notes": "notes"}


def _contact_updated(item: _Entry) -> str:
    fields = item.after("contact_fields") or [
        name for name in item.changes if name in CONTACT_WORDS
    ]
    things = [
        ("the couple's notes" if name == "notes" else f"the couple's {CONTACT_WORDS[name]}")
        for name in fields
        if name in CONTACT_WORDS
    ]
    # "the couple's name and the couple's e-mail" -> "the couple's name and e-mail"
    if len(things) > 1 and all(t.startswith("the couple's ") for t in things):
        things = [things[0]] + [t.removeprefix("the couple's ") for t in things[1:]]
    return f"{item.who} changed " + (_listed(things) or "the couple's details")


def _refund_reason(item: _Entry) -> str:
    code = item.after("refund_reason")
    if code in BookingRefund.Reason.values:
        return BookingRefund.Reason(code).label.lower()
    return _words(code)


def _refund_requested(item: _Entry) -> str:
    return (
        f"{item.who} asked Stripe to refund {item.money(item.after('refund_amount_cents'))} "
        f"of {item.booking} ({_refund_reason(item)})"
    )


def _refund_failed(item: _Entry) -> str:
    amount = item.after("refund_amount_cents")
    what = f"The refund of {item.money(amount)}" if amount else "A refund"
    return f"{what} for {item.booking} failed at Stripe"


REFUND_STATUS_WORDS = {
    "succeeded": "went through",
    "pending": "is pending at Stripe",
    "canceled": "was canceled",
    "requested": "is waiting to be sent",
}


def _refund_updated(item: _Entry) -> str:
    status = item.after("refund_status")
    state = REFUND_STATUS_WORDS.get(status, _words(status))
    amount = item.after("refund_amount_cents")
    what = f"the refund of {item.money(amount)}" if amount is not None else "a refund"
    return f"{item.who} reported that {what} for {item.booking} {state}"


def _refunded(item: _Entry) -> str:
    amount = int(item.after("refunded_cents") or 0) - int(item.before("refunded_cents") or 0)
    return f"{item.who} recorded a refund of {item.money(amount)} for {item.booking}"


def _balance_charge_failed(item: _Entry) -> str:
    failure = _words(item.after("failure")) or "no reason given"
    return (
        f"Charging the balance of {item.booking} to the saved card failed ({failure}); "
        "the couple gets a link to pay"
    )


def _offline_payment(item: _Entry) -> str:
    note = item.after("note")
    return (
        f"{item.who} recorded an offline payment of {item.money(_paid_amount(item))} "
        f"for {item.booking}" + (f" (“{note}”)" if note else "")
    )


def _reconciled(item: _Entry) -> str:
    return (
        f"{item.who} brought {item.booking} in line with Stripe "
        f"({_words(item.before('difference'))})"
    )


SENTENCES: dict[str, Callable[[_Entry], str]] = {
    # catalog
    "package.created": _package_created,
    "package.updated": lambda i: _changed(i, f"the package “{i.title()}”"),
    "package.deleted": lambda i: f"{i.who} deleted the package “{i.title()}”",
    "add_on.created": _add_on_created,
    "add_on.updated": lambda i: _changed(i, f"the add-on “{i.title()}”"),
    "add_on.deleted": lambda i: f"{i.who} deleted the add-on “{i.title()}”",
    "photo.added": _photo_added,
    "photo.updated": lambda i: _changed(i, "a package photo"),
    "photo.deleted": lambda i: f"{i.who} removed a package photo",
    # the business, its team and keys
    "tenant.created": _tenant_created,
    "tenant.updated": lambda i: _changed(i, "the business settings"),
    "tenant.connect_updated": _connect_updated,
    "tenant.connect_deauthorized": lambda i: (
        "The business's Stripe account disconnected from Altar: "
        "payments are not routed to it until a new account is connected"
    ),
    "api_key.issued": _api_key_issued,
    "api_key.rotated": _api_key_rotated,
    "api_key.revoked": lambda i: f"{i.who} revoked an API key ({_key_name(i)})",
    "membership.created": _membership_created,
    "membership.role_changed": _membership_role_changed,
    "membership.accepted": lambda i: f"{_member(i)} accepted the invitation and joined the team",
    "membership.removed": lambda i: f"{i.who} removed {_member(i)} from the team",
    "invitation.created": lambda i: f"{i.who} invited {_invitee(i)}",
    "invitation.resent": lambda i: f"{i.who} re-sent the invitation to {_invitee(i)}",
    "invitation.revoked": lambda i: f"{i.who} withdrew the invitation to {_invitee(i)}",
    "calendar_feed.issued": lambda i: (
        f"{i.who} made a new private calendar feed link for {_member(i)}"
    ),
    "calendar_feed.revoked": lambda i: (
        f"{i.who} turned off the private calendar feed of {_member(i)}"
    ),
    # agreements
    "terms.published": lambda i: f"{i.who} published version {i.after('version')} of the terms",
    "policy.updated": _policy_updated,
    "question.created": _question("added"),
    "question.updated": _question("changed"),
    # bookings
    "booking.held": _booking_held,
    "booking.discarded": lambda i: f"{i.who} dropped a hold before it reached payment",
    "booking.paid": _booking_paid_after_cancel,
    "booking.confirmed": _booking_confirmed,
    "booking.payment_processing": lambda i: (
        f"{i.who} reported a delayed payment (such as a bank debit) for {i.booking}; "
        "the date stays held until it settles"
    ),
    "booking.payment_review": _payment_review,
    "booking.payment_review_resolved": lambda i: (
        f"{i.who} marked the payment needing review on {i.booking} as dealt with"
    ),
    "booking.expired": _booking_expired,
    "booking.hold_released": lambda i: f"{i.who} released the hold on {i.object_date}",
    "booking.canceled": _booking_canceled,
    "booking.cancellation_requested": lambda i: f"{i.who} asked to cancel {i.booking}",
    "booking.date_changed": _date_changed,
    "booking.date_change_paid": _date_change_paid,
    "booking.contact_updated": _contact_updated,
    "booking.answers_updated": lambda i: (
        f"{i.who} changed the answers to the booking questions of {i.booking}"
    ),
    "booking.disputed": _disputed,
    "booking.dispute_updated": lambda i: (
        f"{i.who} updated the dispute on {i.booking}: {_words(i.after('dispute_status'))}"
    ),
    "booking.refund_requested": _refund_requested,
    "booking.refund_failed": _refund_failed,
    "booking.refund_updated": _refund_updated,
    "booking.refunded": _refunded,
    "booking.reconciled": _reconciled,
    "booking.balance_charge_requested": lambda i: (
        f"{i.who} started charging the balance of {i.money(i.after('balance_cents'))} "
        f"for {i.booking} to the saved card"
    ),
    "booking.balance_charge_failed": _balance_charge_failed,
    "booking.balance_paid": lambda i: (
        f"{i.who} recorded a balance payment of {i.money(_paid_amount(i))} for {i.booking}"
    ),
    "booking.offline_payment": _offline_payment,
    "booking.balance_link_sent": lambda i: (
        f"{i.who} sent the couple a link to pay the balance of {i.booking}"
    ),
    # the calendar
    "blackout.added": _blackout_added,
    "blackout.updated": _blackout_updated,
    "blackout.deleted": _blackout_deleted,
}


def _generic(item: _Entry) -> str:
    """An action without a template: still a sentence ("Altar recorded
    “gift card redeemed” on Gift card 12")."""
    what = _words(item.entry.action.replace(".", " "))
    on = item.entry.object_repr
    return f"{item.who} recorded “{what}”" + (f" on {on}" if on else "")


def entry_sentence(entry: AuditEntry) -> str:
    """The entry as one sentence for staff (no trailing full stop: it sits
    in lists and table cells)."""
    item = _Entry(entry)
    template = SENTENCES.get(entry.action, _generic)
    try:
        return template(item)
    except (KeyError, TypeError, ValueError, AttributeError):
        # An entry recorded before its shape changed must still show: the
        # generic sentence needs nothing from `changes`.
        return _generic(item)


def entry_changes_json(entry: AuditEntry) -> str:
    """The before/after as recorded, for the folded details under a
    sentence and the entry's own page: JSON, but with money in units
    (`price_cents: [180000, …]` reads `price: ["1,800.00 USD", …]`), times
    in the business's time zone and the commission as a percentage, so no
    staff page shows cents, UTC or basis points."""
    item = _Entry(entry)
    shown: dict[str, Any] = {}
    for name, pair in (entry.changes or {}).items():
        values = pair if isinstance(pair, list) else [pair]
        if name.endswith("_cents"):
            name = name.removesuffix("_cents")
            values = [None if v is None else item.money(v) for v in values]
        elif name == "commission_bps":
            name = "platform_commission"
            values = [None if v is None else f"{int(v) / 100:g} %" for v in values]
        else:
            values = [_local_time(v) for v in values]
        shown[name] = values
    return json.dumps(shown, indent=2, ensure_ascii=False, sort_keys=True)


def _local_time(value: Any) -> Any:
    if not isinstance(value, str) or len(value) < 19 or value[10:11] != "T":
        return value
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if timezone.is_naive(parsed):
        return value
    return timezone.localtime(parsed).isoformat(timespec="seconds")
