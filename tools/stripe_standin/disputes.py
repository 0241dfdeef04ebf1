"""Disputes (https://docs.stripe.com/api/disputes): opened by the buyer's
bank, closed won or lost."""

from __future__ import annotations

import copy
import re

from ._common import Delivery, StandinError, _check_known, _Ctx, _now

# https://docs.stripe.com/api/disputes/object#dispute_object-evidence
_DISPUTE_EVIDENCE_FIELDS = """access_activity_log billing_address cancellation_policy
cancellation_policy_disclosure cancellation_rebuttal customer_communication
customer_email_address customer_name customer_purchase_ip customer_signature
duplicate_charge_documentation duplicate_charge_explanation duplicate_charge_id
product_description receipt refund_policy refund_policy_disclosure
refund_refusal_explanation service_date service_documentation shipping_address
shipping_carrier shipping_date shipping_documentation shipping_tracking_number
uncategorized_file uncategorized_text""".split()


class Disputes:
    """Part of :class:`StripeStandin` (state and lock live there)."""

    def open_dispute(
        self, payment_intent_id: str, *, reason: str = "fraudulent", amount: int | None = None
    ) -> Delivery:
        """The buyer's bank disputes a payment: ``charge.dispute.created`` is
        delivered with a dispute in ``needs_response``, and the charge is
        ``disputed`` (https://docs.stripe.com/api/disputes/object,
        https://docs.stripe.com/api/events/types#event_types-charge.dispute.created).
        ``reason``: one of Stripe's dispute reasons
        (https://docs.stripe.com/disputes/categories)."""
        with self._lock:
            pi = self._objects.get(payment_intent_id)
            if pi is None or pi.get("object") != "payment_intent" or pi["status"] != "succeeded":
                raise StandinError(f"no succeeded payment {payment_intent_id}")
            owner = self._owners[payment_intent_id]
            charge = self._objects[pi["latest_charge"]]
            if self._open_dispute_of(charge["id"]) is not None:
                raise StandinError(f"charge {charge['id']} already has an open dispute")
            disputed = charge["amount"] - charge["amount_refunded"] if amount is None else amount
            dispute_id = self._new_id("dp")
            # The disputed amount (and a dispute fee) leave the balance at once.
            txn = self._settle_balance(dispute_id, -disputed, charge["currency"], "dispute", owner)
            now = _now()
            card = charge["payment_method_details"].get("card") or {}
            dispute = {
                "id": dispute_id,
                "object": "dispute",
                "amount": disputed,
                "balance_transactions": [copy.deepcopy(self._objects[txn])],
                "charge": charge["id"],
                "created": now,
                "currency": charge["currency"],
                "enhanced_eligibility_types": [],
                "evidence": {name: None for name in _DISPUTE_EVIDENCE_FIELDS}
                | {"enhanced_evidence": {}},
                "evidence_details": {
                    "due_by": now + 7 * 86400,
                    "enhanced_eligibility": {},
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                },
                "is_charge_refundable": False,
                "livemode": False,
                "metadata": {},
                "network_reason_code": None,
                "payment_intent": payment_intent_id,
                "payment_method_details": {
                    "card": {
                        "brand": card.get("brand", "visa"),
                        "case_type": "chargeback",
                        "network": card.get("network", "visa"),
                        "network_reason_code": "10.4",
                    },
                    "type": "card",
                }
                if card
                else None,
                "reason": reason,
                "status": "needs_response",
            }
            self._store(dispute, owner)
            charge["disputed"] = True
            event = self.build_event("charge.dispute.created", dispute, owner)
        return self._deliver_once(event)

    def close_dispute(self, dispute_id: str, *, won: bool) -> Delivery:
        """The dispute is decided: status ``won`` or ``lost`` and
        ``charge.dispute.closed`` is delivered
        (https://docs.stripe.com/api/events/types#event_types-charge.dispute.closed).
        A won dispute returns the amount to the balance."""
        with self._lock:
            dispute = self._objects.get(dispute_id)
            if dispute is None or dispute.get("object") != "dispute":
                raise StandinError(f"no dispute {dispute_id}")
            if dispute["status"] in ("won", "lost"):
                raise StandinError(f"dispute {dispute_id} is already {dispute['status']}")
            owner = self._owners[dispute_id]
            previous = {"status": dispute["status"]}
            dispute["status"] = "won" if won else "lost"
            if won:
                txn = self._settle_balance(
                    dispute_id, dispute["amount"], dispute["currency"], "dispute_reversal", owner
                )
                dispute["balance_transactions"].append(copy.deepcopy(self._objects[txn]))
            event = self.build_event(
                "charge.dispute.closed", dispute, owner, previous_attributes=previous
            )
        return self._deliver_once(event)

    def _open_dispute_of(self, charge_id: str) -> dict | None:
        for obj in self._objects.values():
            if (
                obj.get("object") == "dispute"
                and obj["charge"] == charge_id
                and obj["status"] not in ("won", "lost")
            ):
                return obj
        return None

    def _api_list_disputes(self, ctx: _Ctx, match: re.Match) -> dict:
        """``GET /v1/disputes`` filtered by ``charge`` / ``payment_intent``,
        newest first, paginated (https://docs.stripe.com/api/disputes/list)."""
        _check_known(
            ctx.params,
            frozenset(
                "charge created ending_before expand limit payment_intent starting_after".split()
            ),
        )
        items = self._listed(
            "dispute", ctx.owner, ctx.params, charge="charge", payment_intent="payment_intent"
        )
        return self._list_page(items, "/v1/disputes", ctx.params)
