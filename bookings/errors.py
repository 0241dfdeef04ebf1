"""Booking refusals with stable codes (API.md §1)."""

from config.errors import DomainError, NotFound


class DateUnavailable(DomainError):
    """`reason` is one of availability's reasons: booked, held, blackout,
    past, too_soon, too_far; the API puts it in fields.event_date[0].code."""

    code = "date_unavailable"
    status = 409
    MESSAGES = {
        "booked": "This date is already booked.",
        "held": "This date is being held for another couple's checkout.",
        "blackout": "This date is not available.",
        "past": "This date is in the past.",
        "too_soon": "This date is too soon to book.",
        "too_far": "This date is too far ahead to book.",
    }

    def __init__(self, reason: str):
        message = self.MESSAGES[reason]
        super().__init__(message, fields={"event_date": [{"code": reason, "message": message}]})
        self.reason = reason


class PackageNotOffered(DomainError):
    code = "package_not_found"
    status = 404
    message = "This business does not sell that package."

    def __init__(self) -> None:
        super().__init__(
            fields={"package": [{"code": "package_not_found", "message": self.message}]}
        )


class AddOnNotAllowed(DomainError):
    code = "add_on_not_allowed"
    status = 400

    def __init__(self, slugs: list[str]):
        message = f"Not offered with this package: {', '.join(slugs)}."
        super().__init__(
            message, fields={"add_ons": [{"code": "add_on_not_allowed", "message": message}]}
        )
        self.slugs = slugs


class PaymentProviderError(DomainError):
    code = "payment_provider_error"
    status = 502
    message = "The payment provider could not be reached or refused the request; nothing was held."

    def __init__(
        self,
        *,
        retryable: bool = False,
        stripe_code: str | None = None,
        stored_under_key: bool = False,
    ) -> None:
        super().__init__()
        # True when Stripe may not have decided (5xx, timeout, connection
        # lost, a concurrent request under the same key, rate limit): the
        # object may or may not exist, so look before trying again.
        self.retryable = retryable
        self.stripe_code = stripe_code
        # True when Stripe answered with an error it stores under the
        # idempotency key and replays for 24 h (a 5xx): the request has
        # finished, so a lookup is final and only a new key can try again.
        # False after a timeout or a lost connection: the request may still
        # be running at Stripe, and only the same key is safe.
        self.stored_under_key = stored_under_key


class BookingChangedMeanwhile(DomainError):
    """A staff decision was made on a view of the booking that is no longer
    true (typically: it was paid a moment ago). Nothing changed."""

    code = "booking_changed"
    status = 409
    message = "The booking was just paid or changed; review it again before deciding."


class HoldEnded(DomainError):
    """The hold ended (staff released it) while its Checkout Session was
    being opened: the session is expired at Stripe, nothing can be paid."""

    code = "hold_ended"
    status = 409
    message = (
        "The hold on this date ended before payment could start; check the date and try again."
    )


class HoldNotReleasable(DomainError):
    code = "hold_not_releasable"
    status = 409
    message = "Only an unpaid hold can be released; this booking has been paid meanwhile."


class AmountNotChargeable(DomainError):
    """Stripe would refuse to charge this total (its per-currency minimum,
    its 8-digit maximum, or zero): refused before Stripe is asked."""

    code = "validation_error"
    status = 400
    MESSAGES = {
        "amount_too_small": "The total is below the smallest amount that can be charged.",
        "amount_too_large": "The total is above the largest amount that can be charged.",
    }

    def __init__(self, problem: str) -> None:
        message = self.MESSAGES[problem]
        super().__init__(message, fields={"package": [{"code": problem, "message": message}]})
        self.problem = problem


class BookingNotFound(NotFound):
    message = "No such booking."


class BookingNotCancelable(DomainError):
    code = "booking_not_cancelable"
    status = 409
    message = "Only held or confirmed bookings can be canceled."


class RefundTooLarge(DomainError):
    code = "refund_too_large"
    status = 400
    message = "The refund is larger than what is left of the payment."


class IdempotencyInProgress(DomainError):
    code = "idempotency_in_progress"
    status = 409
    message = "A request with this Idempotency-Key is still being processed; retry shortly."


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422
    message = "This Idempotency-Key was used with a different request body."


class HoldLimitReached(DomainError):
    """Too many active unpaid holds for this e-mail, client address or
    tenant (bookings.hold_limits). `limit` is which one: email, address or
    tenant; `retry_after` the seconds until a counted hold lapses (the API's
    Retry-After)."""

    code = "hold_limit_reached"
    status = 429
    MESSAGES = {
        "email": "This e-mail address already has the most unpaid holds allowed; "
        "pay for or let one of them lapse first.",
        "address": "Too many unpaid holds from this network; retry later.",
        "tenant": "This business has too many unpaid holds right now; retry later.",
    }

    def __init__(self, limit: str, *, retry_after: int):
        message = self.MESSAGES[limit]
        # The e-mail case names its field, so a website can tell the couple;
        # the others are not about anything the couple typed.
        fields = (
            {"email": [{"code": "hold_limit_reached", "message": message}]}
            if limit == "email"
            else {}
        )
        super().__init__(message, fields=fields)
        self.limit = limit
        self.retry_after = retry_after


class TermsNotAccepted(DomainError):
    """Checkout without accepting the terms in force (`accept_terms_version`
    missing, or naming a version that is not the current one: the couple
    read an older text). Nothing is held."""

    code = "terms_not_accepted"
    status = 400
    MESSAGES = {
        "required": "Accept the business's terms to book (accept_terms_version).",
        "outdated": "The terms changed since you read them; read and accept the current version.",
    }

    def __init__(self, problem: str, *, current_version: int) -> None:
        message = self.MESSAGES[problem]
        super().__init__(
            message, fields={"accept_terms_version": [{"code": problem, "message": message}]}
        )
        self.problem = problem
        self.current_version = current_version


class PolicyForbidsChange(DomainError):
    """The business's policy does not let the couple do this (self-cancel
    turned off, date changes not allowed, too close to the wedding, too many
    changes, answers locked). `reason` says which."""

    code = "policy_forbids_change"
    status = 409
    MESSAGES = {
        "self_cancel_off": "This business handles cancellations itself; send a request instead.",
        "paid_outside_stripe": (
            "Part of what you paid went to the business directly, so it returns it "
            "itself; send a cancellation request instead."
        ),
        "changes_off": "This business does not allow date changes online.",
        "too_late": "It is too close to the wedding for this change; contact the business.",
        "too_many_changes": "The date has already been changed as often as allowed.",
        "answers_locked": "Your answers can no longer be changed online; contact the business.",
        "not_confirmed": "Only a confirmed booking can be changed.",
    }

    def __init__(self, reason: str) -> None:
        message = self.MESSAGES[reason]
        super().__init__(message, fields={"policy": [{"code": reason, "message": message}]})
        self.reason = reason


class AnswersInvalid(DomainError):
    """Answers to the tenant's booking questions that do not fit them.
    `fields` is keyed `answers.<question key>` with codes `required`,
    `max_length`, `invalid_number`, `invalid_choice`, `invalid_date`,
    `unknown_question`."""

    code = "validation_error"
    status = 400
    message = "Some answers to the booking questions are missing or invalid."
