"""PaymentIntents, Charges, balance transactions and transfers: what a paid
Checkout Session creates (https://docs.stripe.com/api/payment_intents,
https://docs.stripe.com/api/charges)."""

from __future__ import annotations

import time

from ._common import _now


class PaymentIntents:
    """Part of :class:`StripeStandin` (state and lock live there)."""

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
            "application_fee": None,
            "application_fee_amount": pi["application_fee_amount"],
            "balance_transaction": txn_id,
            "billing_details": {"address": None, "email": email, "name": None, "phone": None},
            "calculated_statement_descriptor": "ALTAR",
            "captured": succeeded,
            "created": _now(),
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
