"""Refunds (https://docs.stripe.com/api/refunds): creation through the API
and the dashboard, pending refunds that later succeed or fail, listing."""

from __future__ import annotations

import copy
import re
from typing import Any

from ._common import (
    Delivery,
    StandinError,
    StripeAPIError,
    _as_bool,
    _as_int,
    _as_metadata,
    _as_str,
    _check_known,
    _Ctx,
    _format_amount,
    _now,
)

_REFUND_PARAMS = frozenset(
    """amount charge currency customer expand instructions_email metadata origin
    payment_intent reason refund_application_fee reverse_transfer""".split()
)


class Refunds:
    """Part of :class:`StripeStandin` (state and lock live there)."""

    def refund_in_dashboard(
        self,
        payment_intent_id: str,
        amount: int | None = None,
        reason: str | None = None,
        *,
        refund_application_fee: bool = False,
    ) -> Delivery:
        """A staff member refunds in Stripe's dashboard.

        ``refund.created`` then ``charge.refunded`` are delivered; the returned
        Delivery is the ``charge.refunded`` one (:meth:`refunds_of` finds the
        refund). A dashboard refund carries no metadata: only the API caller
        can set it (https://docs.stripe.com/api/refunds/create#create_refund-metadata).
        """
        with self._lock:
            owner = self._owners.get(payment_intent_id)
            params: dict[str, Any] = {"payment_intent": payment_intent_id}
            if amount is not None:
                params["amount"] = str(amount)
            if reason is not None:
                params["reason"] = reason
            if refund_application_fee:
                params["refund_application_fee"] = "true"
            ctx = _Ctx("POST", "/v1/refunds", params, owner, "", None)
            try:
                self._api_create_refund(ctx, None)
            except StripeAPIError as exc:
                raise StandinError(exc.body["message"]) from None
            created, refunded = ctx.events
        self._deliver_once(created)
        return self._deliver_once(refunded)

    def seed_refund(
        self,
        payment_intent_id: str,
        amount: int,
        *,
        status: str = "succeeded",
        metadata: dict | None = None,
        created: int | None = None,
    ) -> str:
        """Put a refund of a payment straight into the store (no event), as
        the API would have made it: for tests that need many refunds fast.
        ``status``: "succeeded", "pending" or "failed". Returns its id."""
        with self._lock:
            pi = self._objects[payment_intent_id]
            charge = self._objects[pi["latest_charge"]]
            ctx = _Ctx("POST", "/v1/refunds", {}, self._owners[payment_intent_id], "", None)
            before = self._next_refund_status
            self._next_refund_status = "pending" if status != "succeeded" else "succeeded"
            try:
                refund = self._refund(
                    ctx,
                    charge,
                    amount,
                    metadata=dict(metadata or {}),
                    reason=None,
                    reverse_transfer=False,
                )
            finally:
                self._next_refund_status = before
            if created is not None:
                refund["created"] = created
            if status == "failed":
                refund["status"] = "failed"
                refund.pop("pending_reason", None)
                refund["failure_reason"] = "declined"
                charge["amount_refunded"] -= amount
                charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            for event in ctx.events:  # seeded state: nothing was announced
                self._event_ids.remove(event["id"])
                del self._objects[event["id"]]
            return refund["id"]

    def refunds_of(self, payment_intent_id: str) -> list[dict]:
        """Copies of the refunds of a payment, newest first (for assertions)."""
        with self._lock:
            refunds = [
                o
                for o in self._objects.values()
                if o.get("object") == "refund" and o["payment_intent"] == payment_intent_id
            ]
            return copy.deepcopy(self._list_page(refunds, "/v1/refunds", {"limit": "100"})["data"])

    def _refund(
        self,
        ctx: _Ctx,
        charge: dict,
        amount: int | None,
        *,
        metadata: dict,
        reason: str | None,
        reverse_transfer: bool,
        refund_application_fee: bool = False,
    ) -> dict:
        if charge["status"] != "succeeded":
            raise StripeAPIError(
                400,
                f"Charge {charge['id']} has not succeeded and cannot be refunded.",
                code="charge_not_refundable",
            )
        if charge.get("disputed") and self._open_dispute_of(charge["id"]) is not None:
            # https://docs.stripe.com/error-codes#charge-disputed
            raise StripeAPIError(
                400,
                f"Charge {charge['id']} has been charged back; cannot issue a refund.",
                code="charge_disputed",
            )
        remaining = charge["amount"] - charge["amount_refunded"]
        if remaining <= 0:
            raise StripeAPIError(
                400,
                f"Charge {charge['id']} has already been refunded.",
                code="charge_already_refunded",
            )
        if amount is None:
            amount = remaining
        if amount > remaining:
            raise StripeAPIError(
                400,
                f"Refund amount ({_format_amount(amount, charge['currency'])}) is greater than "
                f"unrefunded amount on charge ({_format_amount(remaining, charge['currency'])})",
                code="amount_too_large",
                param="amount",
            )
        if reverse_transfer and not charge.get("transfer"):
            raise StripeAPIError(
                400,
                "You cannot reverse the transfer of a charge that has no transfer.",
                code="parameter_invalid",
                param="reverse_transfer",
            )
        owner = ctx.owner
        refund_id = self._new_id("re")
        status = self._next_refund_status
        # The refund object at 2026-08-26.dahlia: the fields of the library's
        # Refund class (https://docs.stripe.com/api/refunds/object). There is
        # no ``refund_application_fee`` field: it is a create parameter only.
        refund = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "balance_transaction": self._settle_balance(
                refund_id, -amount, charge["currency"], "refund", owner
            ),
            "charge": charge["id"],
            "created": _now(),
            "currency": charge["currency"],
            "customer": charge["customer"],
            "description": None,
            "destination_details": {
                "card": {
                    "reference_status": "pending",
                    "reference_type": "acquirer_reference_number",
                    "type": "refund",
                },
                "type": "card",
            },
            "failure_balance_transaction": None,
            "metadata": metadata,
            "payment_intent": charge["payment_intent"],
            "payment_method": charge["payment_method"],
            "reason": reason,
            "receipt_number": None,
            "source_transfer_reversal": None,
            "status": status,
            "transfer_reversal": self._new_id("trr") if reverse_transfer else None,
        }
        if status == "pending":
            # https://docs.stripe.com/api/refunds/object#refund_object-pending_reason
            refund["pending_reason"] = "processing"
        self._store(refund, owner)

        previous = {
            "amount_refunded": charge["amount_refunded"],
            "refunded": charge["refunded"],
        }
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        if refund_application_fee:
            self._refund_application_fee(charge, amount)
        if previous["refunded"] == charge["refunded"]:
            del previous["refunded"]  # previous_attributes lists changed fields only
        # Creating a refund emits refund.created ("Occurs whenever a refund is
        # created") and charge.refunded ("Occurs whenever a charge is refunded,
        # including partial refunds"); neither payload carries the charge's
        # refunds list, which is no longer included since 2022-11-15
        # (https://docs.stripe.com/api/events/types#event_types-refund.created,
        # https://docs.stripe.com/api/events/types#event_types-charge.refunded,
        # https://docs.stripe.com/changelog/2022-11-15/deprecates-charges-auto-expand).
        request = {"request_id": ctx.request_id or None, "idempotency_key": ctx.idempotency_key}
        ctx.events.append(self.build_event("refund.created", refund, owner, **request))
        ctx.events.append(
            self.build_event(
                "charge.refunded", charge, owner, previous_attributes=previous, **request
            )
        )
        return refund

    def refunds_pending(self, pending: bool = True) -> None:
        """Refunds created from now on start ``pending`` (as bank-debit and
        some card refunds do) until :meth:`settle_refund` / :meth:`fail_refund`;
        ``False`` restores immediate ``succeeded``
        (https://docs.stripe.com/refunds#refund-statuses)."""
        with self._lock:
            self._next_refund_status = "pending" if pending else "succeeded"

    def settle_refund(self, refund_id: str) -> Delivery:
        """A pending refund succeeds: ``refund.updated`` is delivered
        (https://docs.stripe.com/api/events/types#event_types-refund.updated)."""
        with self._lock:
            refund = self._pending_refund(refund_id)
            refund["status"] = "succeeded"
            refund.pop("pending_reason", None)
            event = self.build_event(
                "refund.updated",
                refund,
                self._owners[refund_id],
                previous_attributes={"status": "pending"},
            )
        return self._deliver_once(event)

    def fail_refund(self, refund_id: str, failure_reason: str = "declined") -> Delivery:
        """A pending refund fails: the money goes back to the balance, the
        charge's ``amount_refunded`` drops again and ``refund.failed`` is
        delivered ("Occurs whenever a refund has failed",
        https://docs.stripe.com/api/events/types#event_types-refund.failed;
        failure_reason values: https://docs.stripe.com/api/refunds/object#refund_object-failure_reason)."""
        with self._lock:
            refund = self._pending_refund(refund_id)
            owner = self._owners[refund_id]
            refund["status"] = "failed"
            refund.pop("pending_reason", None)
            refund["failure_reason"] = failure_reason
            refund["failure_balance_transaction"] = self._settle_balance(
                refund_id, refund["amount"], refund["currency"], "refund_failure", owner
            )
            charge = self._objects[refund["charge"]]
            charge["amount_refunded"] -= refund["amount"]
            charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
            event = self.build_event(
                "refund.failed", refund, owner, previous_attributes={"status": "pending"}
            )
        return self._deliver_once(event)

    def _pending_refund(self, refund_id: str) -> dict:
        refund = self._objects.get(refund_id)
        if refund is None or refund.get("object") != "refund":
            raise StandinError(f"no refund {refund_id}")
        if refund["status"] != "pending":
            raise StandinError(f"refund {refund_id} is {refund['status']}, not pending")
        return refund

    def _api_list_refunds(self, ctx: _Ctx, match: re.Match) -> dict:
        """``GET /v1/refunds`` filtered by ``charge`` / ``payment_intent``,
        newest first, paginated like every Stripe list
        (https://docs.stripe.com/api/refunds/list, https://docs.stripe.com/api/pagination)."""
        p = ctx.params
        _check_known(
            p,
            frozenset(
                "charge created ending_before expand limit payment_intent starting_after".split()
            ),
        )
        refunds = self._listed(
            "refund", ctx.owner, p, charge="charge", payment_intent="payment_intent"
        )
        return self._list_page(refunds, "/v1/refunds", p)

    def _api_create_refund(self, ctx: _Ctx, match: re.Match | None) -> dict:
        p = ctx.params
        _check_known(p, _REFUND_PARAMS)
        pi_id = _as_str(p.get("payment_intent"), "payment_intent")
        charge_id = _as_str(p.get("charge"), "charge")
        if not pi_id and not charge_id:
            raise StripeAPIError(
                400,
                "One of the following params should be provided for this request: "
                "payment_intent or charge.",
                code="parameter_missing",
            )
        if pi_id:
            pi = self._lookup(
                "payment_intent", pi_id, ctx.owner, param="payment_intent", status=400
            )
            if pi["status"] != "succeeded" or not pi.get("latest_charge"):
                raise StripeAPIError(
                    400,
                    f"This PaymentIntent ({pi_id}) does not have a successful charge to refund.",
                    code="charge_not_refundable",
                    param="payment_intent",
                )
            if charge_id and charge_id != pi["latest_charge"]:
                raise StripeAPIError(
                    400,
                    "The charge does not belong to the given payment_intent.",
                    code="parameter_invalid",
                    param="charge",
                )
            charge_id = pi["latest_charge"]
        assert charge_id is not None
        charge = self._lookup("charge", charge_id, ctx.owner, param="charge", status=400)
        amount = _as_int(p.get("amount"), "amount", minimum=1)
        reason = p.get("reason") or None
        if reason not in (None, "duplicate", "fraudulent", "requested_by_customer"):
            raise StripeAPIError(
                400,
                "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
                code="parameter_invalid",
                param="reason",
            )
        return self._refund(
            ctx,
            charge,
            amount,
            metadata=_as_metadata(p.get("metadata")),
            reason=reason,
            reverse_transfer=bool(_as_bool(p.get("reverse_transfer"), "reverse_transfer")),
            refund_application_fee=bool(
                _as_bool(p.get("refund_application_fee"), "refund_application_fee")
            ),
        )
