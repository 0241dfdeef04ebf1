"""What a couple and a business agree on (issue 14): the tenant's versioned
terms, its booking questions and its cancellation/change policy; the reads
and the writes for each, kept together because they are small. The money
rule the policy implies lives in bookings.money.

Preconditions as in bookings.services: inside the tenant's scope.
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from bookings import money
from bookings.errors import AnswersInvalid, PolicyForbidsChange, TermsNotAccepted
from bookings.models import (
    Booking,
    BookingPolicy,
    BookingQuestion,
    CancellationRequest,
    TermsVersion,
)
from bookings.refunds import locked_booking, reserved_cents, stripe_holdings
from bookings.selectors import tenant_today
from config.db import violated_constraint
from tenants.audit import audit_record
from tenants.models import Tenant

TERMS_VERSION_CONSTRAINT = "bookings_termsversion_tenant_version_uniq"
MAX_TERMS_CHARS = 50_000


# --- terms --------------------------------------------------------------------


def terms_current(*, tenant: Tenant) -> TermsVersion | None:
    """The version in force (the highest), or None when the tenant has none."""
    return TermsVersion.objects.filter(tenant=tenant).order_by("-version").first()


def terms_version_get(*, tenant: Tenant, version: int) -> TermsVersion | None:
    return TermsVersion.objects.filter(tenant=tenant, version=version).first()


@transaction.atomic
def terms_publish(*, tenant: Tenant, text: str) -> TermsVersion:
    """Publish a new version of the terms (the next number). Earlier
    versions stay as they were. Two staff publishing at once: the unique
    constraint lets one take the number; the other is told to retry."""
    text = text.strip()
    if not text:
        raise ValidationError({"text": ValidationError("Write the terms.", code="required")})
    if len(text) > MAX_TERMS_CHARS:
        raise ValidationError(
            {"text": ValidationError("The terms are too long.", code="max_length")}
        )
    latest = TermsVersion.objects.filter(tenant=tenant).aggregate(v=Max("version"))["v"] or 0
    terms = TermsVersion(tenant=tenant, version=latest + 1, text=text)
    try:
        with transaction.atomic():
            terms.save(force_insert=True)
    except IntegrityError as exc:
        if violated_constraint(exc) != TERMS_VERSION_CONSTRAINT:
            raise
        raise ValidationError(
            "Someone published a version at the same moment; review it and try again.",
            code="concurrent_publish",
        ) from exc
    audit_record(
        tenant=tenant,
        action="terms.published",
        obj=terms,
        changes={"version": [latest or None, terms.version]},
    )
    return terms


def terms_check(*, tenant: Tenant, accepted_version: int | None) -> TermsVersion | None:
    """The terms version checkout must record: None when the tenant has no
    terms; else `accepted_version` must be the version in force (raises
    TermsNotAccepted: `required` when missing, `outdated` when another)."""
    current = terms_current(tenant=tenant)
    if current is None:
        return None
    if accepted_version is None:
        raise TermsNotAccepted("required", current_version=current.version)
    if accepted_version != current.version:
        raise TermsNotAccepted("outdated", current_version=current.version)
    return current


# --- policy ---------------------------------------------------------------------


def policy_for(*, tenant: Tenant) -> BookingPolicy:
    """The tenant's policy, or the defaults (unsaved) when it has none."""
    return BookingPolicy.objects.filter(tenant=tenant).first() or BookingPolicy(tenant=tenant)


def days_before(*, booking: Booking, now: dt.datetime | None = None) -> int:
    """Whole days from today (the tenant's today) to the wedding."""
    today = tenant_today(tenant=booking.tenant, now=now or timezone.now())
    return (booking.event_date - today).days


def tiers_of(policy_tiers: list[dict] | None) -> list[tuple[int, int]]:
    """Stored tiers ([{"days_before", "refund_percent"}]) as money.py takes them."""
    return [(int(t["days_before"]), int(t["refund_percent"])) for t in policy_tiers or []]


def tiers_validate(tiers: list[tuple[int, int]]) -> list[dict]:
    """Tiers as stored, or ValidationError: 0 to 3650 days, 0 to 100 %, each
    notice once, and more notice never refunds less."""
    if len(tiers) > 10:
        raise ValidationError("At most 10 tiers.", code="too_many_tiers")
    seen = set()
    for days, percent in tiers:
        if not 0 <= days <= 3650 or not 0 <= percent <= 100:
            raise ValidationError(
                "Days from 0 to 3650 and a percentage from 0 to 100.", code="out_of_range"
            )
        if days in seen:
            raise ValidationError("Each number of days once.", code="duplicate_days")
        seen.add(days)
    ordered = sorted(tiers, reverse=True)
    for (_, more), (_, less) in itertools.pairwise(ordered):
        if more < less:
            raise ValidationError(
                "Cancelling earlier must never refund less than cancelling later.",
                code="not_monotonic",
            )
    return [{"days_before": d, "refund_percent": p} for d, p in ordered]


def policy_refund_now(*, booking: Booking, now: dt.datetime | None = None) -> int | None:
    """What the booking's own policy refunds if it is canceled now (None:
    the booking has no policy, staff decide). Precondition for a decision:
    `booking` is locked; otherwise it is a quote."""
    if booking.cancellation_policy is None:
        return None
    plan = booking.payment_plan or {}
    non_refundable = (
        min(booking.deposit_cents, booking.paid_cents)
        if plan.get("kind") == "deposit" and plan.get("deposit_refundable") is False
        else 0
    )
    return money.policy_refund_cents(
        tiers=tiers_of(booking.cancellation_policy),
        days_before=days_before(booking=booking, now=now),
        paid_cents=booking.paid_cents,
        refunded_cents=booking.refunded_cents + reserved_cents(booking),
        non_refundable_cents=non_refundable,
    )


def self_cancel_refusal(
    *, booking: Booking, policy: BookingPolicy, now: dt.datetime | None = None
) -> str | None:
    """Why the couple may not cancel online now (None: they may).

    `paid_outside_stripe`: the policy gives back more than the booking's
    Stripe payments still hold, i.e. part of it was paid offline (bank
    transfer, cash). Altar refunds through Stripe only, so the couple asks
    staff instead, who return the offline part themselves; cancelling
    online would free the date and refund less than the policy promised."""
    if booking.status != Booking.Status.CONFIRMED:
        return "not_confirmed"
    if not policy.self_cancel_allowed or booking.cancellation_policy is None:
        return "self_cancel_off"
    owed = policy_refund_now(booking=booking, now=now) or 0
    if owed > sum(holds for _, holds in stripe_holdings(booking)):
        return "paid_outside_stripe"
    return None


@transaction.atomic
def policy_save(*, tenant: Tenant, policy: BookingPolicy) -> BookingPolicy:
    """Create or change the tenant's policy. Bookings already made keep the
    tiers copied onto them at checkout."""
    policy.tenant = tenant
    policy.cancellation_tiers = tiers_validate(tiers_of(policy.cancellation_tiers))
    before = BookingPolicy.objects.filter(tenant=tenant).first()
    policy.pk = before.pk if before else None
    policy._state.adding = before is None
    policy.save()
    audit_record(
        tenant=tenant,
        action="policy.updated",
        obj=policy,
        changes={
            "cancellation_tiers": [
                before.cancellation_tiers if before else None,
                policy.cancellation_tiers,
            ],
            "self_cancel_allowed": [
                before.self_cancel_allowed if before else None,
                policy.self_cancel_allowed,
            ],
            "date_change_allowed": [
                before.date_change_allowed if before else None,
                policy.date_change_allowed,
            ],
        },
    )
    return policy


@transaction.atomic
def cancellation_request_create(
    *, tenant: Tenant, booking_id: uuid.UUID | str, message: str = ""
) -> CancellationRequest:
    """The couple asks staff to cancel (self-cancel is off). Asking again
    while a request is open returns that request."""
    booking = locked_booking(tenant=tenant, booking_id=booking_id)
    if booking.status not in (Booking.Status.CONFIRMED, Booking.Status.PAYMENT_PROCESSING):
        raise PolicyForbidsChange("not_confirmed")
    existing = CancellationRequest.objects.filter(
        tenant=tenant, booking=booking, resolved_at__isnull=True
    ).first()
    if existing is not None:
        return existing
    request = CancellationRequest.objects.create(
        tenant=tenant, booking=booking, message=message[:2000]
    )
    audit_record(
        tenant=tenant,
        action="booking.cancellation_requested",
        obj=booking,
        changes={"cancellation_request": [None, request.pk]},
    )
    return request


def cancellation_requests_open(
    *, tenant: Tenant | None, latest: int = 20
) -> list[CancellationRequest]:
    """Open requests, oldest first (tenant None: every tenant's, for the
    platform operator's dashboard, whose scope the admin already opened)."""
    requests = CancellationRequest.objects.filter(resolved_at__isnull=True)
    if tenant is not None:
        requests = requests.filter(tenant=tenant)
    return list(requests.select_related("booking", "tenant").order_by("created_at", "id")[:latest])


@transaction.atomic
def cancellation_request_resolve(*, tenant: Tenant, request_id: int) -> bool:
    """Staff dealt with a request (canceled the booking or talked to the
    couple): it leaves the dashboard."""
    updated = CancellationRequest.objects.filter(
        tenant=tenant, pk=request_id, resolved_at__isnull=True
    ).update(resolved_at=timezone.now())
    return bool(updated)


# --- booking questions -------------------------------------------------------------

MAX_TEXT_ANSWER = 500
MAX_NUMBER_ANSWER = 1_000_000


def questions_active(*, tenant: Tenant) -> list[BookingQuestion]:
    return list(BookingQuestion.objects.filter(tenant=tenant, active=True))


def _answer_clean(question: BookingQuestion, value: Any) -> tuple[Any, str | None]:
    """(the value to store, or an error code)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None, ("required" if question.required else None)
    kind = question.kind
    if kind == BookingQuestion.Kind.NUMBER:
        if isinstance(value, bool):
            return None, "invalid_number"
        try:
            number = int(str(value).strip())
        except ValueError:
            return None, "invalid_number"
        if not 0 <= number <= MAX_NUMBER_ANSWER:
            return None, "invalid_number"
        return number, None
    if not isinstance(value, str):
        return None, "invalid"
    value = value.strip()
    if kind == BookingQuestion.Kind.CHOICE:
        return (value, None) if value in question.options else (None, "invalid_choice")
    if kind == BookingQuestion.Kind.DATE:
        try:
            return dt.date.fromisoformat(value).isoformat(), None
        except ValueError:
            return None, "invalid_date"
    if len(value) > MAX_TEXT_ANSWER:
        return None, "max_length"
    return value, None


ANSWER_MESSAGES = {
    "required": "This question needs an answer.",
    "max_length": f"At most {MAX_TEXT_ANSWER} characters.",
    "invalid_number": f"A whole number from 0 to {MAX_NUMBER_ANSWER}.",
    "invalid_choice": "Choose one of the options.",
    "invalid_date": "A date as YYYY-MM-DD.",
    "invalid": "Send the answer as text.",
    "unknown_question": "This business asks no such question.",
}


def answers_clean(*, tenant: Tenant, raw: dict[str, Any] | None) -> dict[str, Any]:
    """The answers to store for `raw` ({question key: value}), or
    AnswersInvalid with a code per question (`answers.<key>`). Questions not
    answered and not required are left out."""
    raw = raw or {}
    questions = questions_active(tenant=tenant)
    known = {q.key for q in questions}
    errors: dict[str, list[dict[str, str]]] = {}
    for key in raw:
        if key not in known:
            errors[f"answers.{key}"] = [
                {"code": "unknown_question", "message": ANSWER_MESSAGES["unknown_question"]}
            ]
    cleaned: dict[str, Any] = {}
    for question in questions:
        value, problem = _answer_clean(question, raw.get(question.key))
        if problem:
            errors[f"answers.{question.key}"] = [
                {"code": problem, "message": ANSWER_MESSAGES[problem]}
            ]
        elif value is not None:
            cleaned[question.key] = value
    if errors:
        raise AnswersInvalid(fields=errors)
    return cleaned


@transaction.atomic
def booking_question_save(*, tenant: Tenant, question: BookingQuestion) -> BookingQuestion:
    """Create or change a question (the admin's one write). A choice needs
    options; keys are unique per tenant."""
    question.tenant = tenant
    question.full_clean(exclude=["tenant"], validate_unique=False, validate_constraints=False)
    if question.kind == BookingQuestion.Kind.CHOICE and not question.options:
        raise ValidationError(
            {"choices": ValidationError("List the options, one per line.", code="required")}
        )
    created = question.pk is None
    try:
        with transaction.atomic():
            question.save()
    except IntegrityError as exc:
        if violated_constraint(exc) != "bookings_bookingquestion_tenant_key_uniq":
            raise
        raise ValidationError(
            {"key": ValidationError("Another question has this key.", code="unique")}
        ) from exc
    audit_record(
        tenant=tenant,
        action="question.created" if created else "question.updated",
        obj=question,
        changes={
            "key": [None, question.key],
            "kind": [None, question.kind],
            "required": [None, question.required],
            "active": [None, question.active],
        },
    )
    return question


def answers_editable_reason(*, booking: Booking, policy: BookingPolicy) -> str | None:
    """Why the couple may not edit the answers now (None: they may)."""
    if booking.status not in (Booking.Status.CONFIRMED, Booking.Status.PAYMENT_PROCESSING):
        return "not_confirmed"
    if days_before(booking=booking) < policy.answers_edit_min_days:
        return "answers_locked"
    return None


@transaction.atomic
def booking_answers_update(
    *, tenant: Tenant, booking_id: uuid.UUID | str, raw: dict[str, Any]
) -> Booking:
    """The couple edits their answers (manage my booking), up to the
    policy's `answers_edit_min_days` before the wedding. Raises
    PolicyForbidsChange or AnswersInvalid; nothing changes on either."""
    booking = locked_booking(tenant=tenant, booking_id=booking_id)
    reason = answers_editable_reason(booking=booking, policy=policy_for(tenant=tenant))
    if reason:
        raise PolicyForbidsChange(reason)
    cleaned = answers_clean(tenant=tenant, raw=raw)
    if cleaned != booking.answers:
        before = booking.answers
        booking.answers = cleaned
        booking.save(update_fields=["answers", "updated_at"])
        audit_record(
            tenant=tenant,
            action="booking.answers_updated",
            obj=booking,
            changes={"answers": [sorted(before), sorted(cleaned)]},
        )
    return booking
