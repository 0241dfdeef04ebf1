"""PaymentIntents, Charges, balance transactions and transfers: what a paid
Checkout Session creates (https://docs.stripe.com/api/payment_intents,
https://docs.stripe.com/api/charges)."""

from __future__ import annotations

import re
import time

from ._common import _check_known, _Ctx, _now, _rand

_LIST_PARAMS = frozenset("created ending_before expand limit starting_after".split())


class PaymentIntents:
    """Part of :class:`StripeStandin` (state and lock live there)."""

    def _new_payment(
        self,
        amount: int,
        currency: str,
        pi_data: dict,
        owner: str | None,
        buyer_email: str,
        *,
        customer_id: str | None,
        async_payment: bool,
        created: int,
    ) -> tuple[str, str]:
        """A paid (or, async, processing) PaymentIntent and its Charge, as a
        completed Checkout Session leaves them. Returns their ids."""
        transfer_data = pi_data.get("transfer_data")
        fee = pi_data.get("application_fee_amount")
        pi_id = self._new_id("pi")
        charge_id = self._new_id("ch")
        status = "processing" if async_payment else "succeeded"
        pi = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0 if async_payment else amount,
            "application": None,
            "application_fee_amount": fee,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": pi_data.get("capture_method") or "automatic_async",
            "client_secret": f"{pi_id}_secret_{_rand(25)}",
            "confirmation_method": "automatic",
            "created": created,
            "currency": currency,
            "customer": customer_id,
            "description": pi_data.get("description"),
            "last_payment_error": None,
            "latest_charge": charge_id,
            "livemode": False,
            "metadata": dict(pi_data.get("metadata", {})),
            "next_action": None,
            "on_behalf_of": pi_data.get("on_behalf_of"),
            "payment_method": None,
            "payment_method_options": {},
            "payment_method_types": ["us_bank_account" if async_payment else "card"],
            "processing": None,
            "receipt_email": pi_data.get("receipt_email"),
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "source": None,
            "statement_descriptor": pi_data.get("statement_descriptor"),
            "statement_descriptor_suffix": pi_data.get("statement_descriptor_suffix"),
            "status": status,
            "transfer_data": transfer_data,
            "transfer_group": pi_data.get("transfer_group")
            or (f"group_{pi_id}" if transfer_data else None),
        }
        self._store(pi, owner)
        charge = self._new_charge(charge_id, pi, owner, buyer_email, succeeded=not async_payment)
        self._store(charge, owner)
        return pi_id, charge_id

    def seed_payment(
        self,
        amount: int,
        currency: str = "usd",
        *,
        metadata: dict | None = None,
        created: int | None = None,
        application_fee_amount: int | None = None,
        destination: str | None = None,
    ) -> tuple[str, str]:
        """Put a succeeded card payment straight into the store, as a paid
        Checkout Session would have left it (no event is sent): for tests
        that need many payments fast (reconcile at scale). Returns the
        (PaymentIntent, Charge) ids."""
        pi_data = {
            "metadata": dict(metadata or {}),
            "application_fee_amount": application_fee_amount,
            "transfer_data": {"destination": destination} if destination else None,
        }
        with self._lock:
            return self._new_payment(
                amount,
                currency,
                pi_data,
                None,
                "buyer@example.com",
                customer_id=None,
                async_payment=False,
                created=_now() if created is None else created,
            )

    def _api_list_payment_intents(self, ctx: _Ctx, match: re.Match) -> dict:
        """``GET /v1/payment_intents``, newest first, paginated
        (https://docs.stripe.com/api/payment_intents/list)."""
        _check_known(ctx.params, _LIST_PARAMS | {"customer"})
        items = self._listed("payment_intent", ctx.owner, ctx.params, customer="customer")
        return self._list_page(items, "/v1/payment_intents", ctx.params)

    def _api_list_charges(self, ctx: _Ctx, match: re.Match) -> dict:
        """``GET /v1/charges`` filtered by ``payment_intent`` / ``customer`` /
        ``transfer_group``, newest first, paginated
        (https://docs.stripe.com/api/charges/list)."""
        _check_known(ctx.params, _LIST_PARAMS | {"customer", "payment_intent", "transfer_group"})
        items = self._listed(
            "charge",
            ctx.owner,
            ctx.params,
            customer="customer",
            payment_intent="payment_intent",
            transfer_group="transfer_group",
        )
        return self._list_page(items, "/v1/charges", ctx.params)

    def _new_charge(
        self, charge_id: str, pi: dict, owner: str | None, email: str, *, succeeded: bool
    ) -> dict:
        amount, currency = pi["amount"], pi["currency"]
        txn_id = (
            self._settle_balance(charge_id, amount, currency, "charge", owner)
            if succeeded
            else None
        )
        transfer_id = None
        if succeeded and pi["transfer_data"]:
            transfer_id = self._make_transfer(pi, charge_id)
        fee_id = None
        if succeeded and pi["application_fee_amount"] is not None:
            fee_id = self._make_application_fee(pi, charge_id, pi["created"])
        if pi["payment_method_types"] == ["card"]:
            details = {
                "type": "card",
                "card": {
                    "brand": "visa",
                    "country": "US",
                    "exp_month": 12,
                    "exp_year": time.gmtime().tm_year + 3,
                    "funding": "credit",
                    "last4": "4242",
                    "network": "visa",
                },
            }
        else:
            details = {
                "type": "us_bank_account",
                "us_bank_account": {
                    "account_holder_type": "individual",
                    "account_type": "checking",
                    "bank_name": "STRIPE TEST BANK",
                    "last4": "6789",
                    "routing_number": "110000000",
                },
            }
        return {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_captured": amount if succeeded else 0,
            "amount_refunded": 0,
            "application": None,
            "application_fee": fee_id,
            "application_fee_amount": pi["application_fee_amount"],
            "balance_transaction": txn_id,
            "billing_details": {"address": None, "email": email, "name": None, "phone": None},
            "calculated_statement_descriptor": "ALTAR",
            "captured": succeeded,
            "created": pi["created"],
            "currency": currency,
            "customer": pi["customer"],
            "description": pi["description"],
            "disputed": False,
            "failure_balance_transaction": None,
            "failure_code": None,
            "failure_message": None,
            "fraud_details": {},
            "livemode": False,
            "metadata": dict(pi["metadata"]),
            "on_behalf_of": pi["on_behalf_of"],
            "outcome": {
                "network_status": "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "Payment complete.",
                "type": "authorized",
            }
            if succeeded
            else None,
            "paid": succeeded,
            "payment_intent": pi["id"],
            "payment_method": None,
            "payment_method_details": details,
            "receipt_email": pi["receipt_email"],
            "receipt_number": None,
            "receipt_url": None,
            "refunded": False,
            "review": None,
            "shipping": None,
            "source": None,
            "source_transfer": None,
            "statement_descriptor": pi["statement_descriptor"],
            "statement_descriptor_suffix": pi["statement_descriptor_suffix"],
            "status": "succeeded" if succeeded else "pending",
            "transfer": transfer_id,
            "transfer_data": pi["transfer_data"],
            "transfer_group": pi["transfer_group"],
        }

    def _settle_balance(
        self, source: str, amount: int, currency: str, kind: str, owner: str | None
    ) -> str:
        """A balance transaction for ``source`` (Stripe's fee: 2.9% + 30 on charges)."""
        fee = min(amount, round(amount * 0.029) + 30) if kind == "charge" else 0
        txn = {
            "id": self._new_id("txn"),
            "object": "balance_transaction",
            "amount": amount,
            "available_on": _now() + 2 * 86400,
            "created": _now(),
            "currency": currency,
            "description": None,
            "exchange_rate": None,
            "fee": fee,
            "fee_details": (
                [
                    {
                        "amount": fee,
                        "application": None,
                        "currency": currency,
                        "description": "Stripe processing fees",
                        "type": "stripe_fee",
                    }
                ]
                if fee
                else []
            ),
            "net": amount - fee,
            # Disputes move money as "adjustment" transactions whose reporting
            # category says why (https://docs.stripe.com/reports/reporting-categories).
            "reporting_category": kind,
            "source": source,
            "status": "pending",
            "type": "adjustment" if kind.startswith("dispute") else kind,
        }
        return self._store(txn, owner)["id"]

    def _make_transfer(self, pi: dict, charge_id: str) -> str:
        destination = pi["transfer_data"]["destination"]
        amount = pi["transfer_data"].get("amount")
        if amount is None:
            amount = pi["amount"] - (pi["application_fee_amount"] or 0)
        transfer = {
            "id": self._new_id("tr"),
            "object": "transfer",
            "amount": amount,
            "amount_reversed": 0,
            "balance_transaction": None,
            "created": _now(),
            "currency": pi["currency"],
            "description": None,
            "destination": destination,
            "destination_payment": None,
            "livemode": False,
            "metadata": {},
            "reversals": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": "/v1/transfers/reversals",
            },
            "reversed": False,
            "source_transaction": charge_id,
            "source_type": "card",
            "transfer_group": pi["transfer_group"],
        }
        return self._store(transfer, None)["id"]
