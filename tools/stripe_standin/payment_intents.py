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


# Test cards (https://docs.stripe.com/testing#cards,
# https://docs.stripe.com/testing#authentication-and-setup): what a card
# saved at checkout does when it is later charged off-session.
# 4000000000000341: "Attaching this card to a Customer object succeeds, but
# attempts to charge the customer fail" (card_declined);
# 4000002760003184: requires authentication on every transaction, so an
# off-session charge fails with `authentication_required`.
CARD_OUTCOMES = {
    "4242424242424242": None,
    "4000000000000341": ("card_declined", "generic_decline", "Your card was declined."),
    "4000002760003184": (
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
}
# Stripe's test PaymentMethods usable directly as `payment_method`
# (https://docs.stripe.com/testing?testing-method=payment-methods).
TEST_PAYMENT_METHODS = {
    "pm_card_visa": "4242424242424242",
    "pm_card_chargeCustomerFail": "4000000000000341",
    "pm_card_authenticationRequired": "4000002760003184",
}

_PI_CREATE_PARAMS = frozenset(
    """amount application_fee_amount confirm currency customer description expand
    metadata off_session payment_method payment_method_types receipt_email
    statement_descriptor statement_descriptor_suffix transfer_data transfer_group""".split()
)


class OffSessionPayments:
    """Saved PaymentMethods and off-session PaymentIntents (part of
    :class:`StripeStandin`): a card saved by a Checkout payment with
    ``setup_future_usage=off_session`` is attached to the session's Customer
    (https://docs.stripe.com/payments/save-during-payment), and
    ``POST /v1/payment_intents`` with ``off_session=true, confirm=true``
    charges it without the buyer (https://docs.stripe.com/api/payment_intents/create)."""

    def _new_payment_method(self, card_number: str, customer_id: str | None, owner) -> dict:
        pm = {
            "id": self._new_id("pm"),
            "object": "payment_method",
            "allow_redisplay": "unspecified",
            "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            "card": {
                "brand": "visa",
                "country": "US",
                "display_brand": "visa",
                "exp_month": 12,
                "exp_year": time.gmtime().tm_year + 3,
                "funding": "credit",
                "last4": card_number[-4:],
                "regulated_status": "unregulated",
            },
            "created": _now(),
            "customer": customer_id,
            "livemode": False,
            "metadata": {},
            "type": "card",
            # Private: how an off-session charge of this card ends.
            "_card_number": card_number,
        }
        return self._store(pm, owner)

    def _api_create_payment_intent(self, ctx, match) -> dict:
        from ._common import (
            StripeAPIError,
            _as_bool,
            _as_currency,
            _as_int,
            _as_metadata,
            _as_str,
            _check_charge_amount,
            _check_known,
            _missing,
            _public,
        )

        p = ctx.params
        _check_known(p, _PI_CREATE_PARAMS)
        amount = _as_int(p.get("amount"), "amount", minimum=1, required=True)
        currency = _as_currency(p.get("currency"), "currency")
        _check_charge_amount(amount, currency, param="amount")
        customer_id = _as_str(p.get("customer"), "customer")
        if customer_id:
            self._lookup("customer", customer_id, ctx.owner, param="customer", status=400)
        pm_id = _as_str(p.get("payment_method"), "payment_method")
        confirm = bool(_as_bool(p.get("confirm"), "confirm"))
        off_session = _as_bool(p.get("off_session"), "off_session")
        if off_session is not None and not confirm:
            # "This parameter can only be used with confirm=true."
            raise StripeAPIError(
                400,
                "off_session can only be used with confirm=true.",
                code="parameter_invalid",
                param="off_session",
            )
        if confirm and not pm_id:
            raise _missing("payment_method")
        pm = None
        if pm_id in TEST_PAYMENT_METHODS:
            pm = self._new_payment_method(TEST_PAYMENT_METHODS[pm_id], customer_id, ctx.owner)
        elif pm_id:
            pm = self._lookup(
                "payment_method", pm_id, ctx.owner, param="payment_method", status=400
            )
            if pm["customer"] != customer_id:
                # A saved PaymentMethod is used with the Customer it belongs to.
                raise StripeAPIError(
                    400,
                    f"The provided PaymentMethod {pm_id} does not belong to the Customer.",
                    code="parameter_invalid",
                    param="payment_method",
                )
        fee = _as_int(p.get("application_fee_amount"), "application_fee_amount", minimum=0)
        transfer_raw = p.get("transfer_data") or {}
        transfer_data = None
        if transfer_raw:
            _check_known(transfer_raw, frozenset({"amount", "destination"}), "transfer_data")
            destination = _as_str(
                transfer_raw.get("destination"), "transfer_data[destination]", required=True
            )
            acct = self._account(destination)
            if acct is None or destination in self._deauthorized:
                raise StripeAPIError(
                    400,
                    f"No such destination: '{destination}'",
                    code="resource_missing",
                    param="transfer_data[destination]",
                )
            if acct["capabilities"].get("transfers") != "active":
                raise StripeAPIError(
                    400,
                    "Your destination account needs to have at least one of the following "
                    "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                    code="insufficient_capabilities_for_transfer",
                    param="transfer_data[destination]",
                )
            transfer_data = {"destination": destination}
        if fee is not None:
            if transfer_data is None and ctx.owner is None:
                raise StripeAPIError(
                    400,
                    "Can only apply an application_fee_amount when the PaymentIntent is "
                    "attempting a direct payment (using an OAuth key or Stripe-Account header) "
                    "or destination payment (using `transfer_data[destination]`).",
                    code="parameter_invalid",
                    param="application_fee_amount",
                )
            if fee > amount:
                raise StripeAPIError(
                    400,
                    "The application fee cannot be greater than the amount of the payment.",
                    code="parameter_invalid",
                    param="application_fee_amount",
                )
        pi_id = self._new_id("pi")
        pi = {
            "id": pi_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_capturable": 0,
            "amount_details": {"tip": {}},
            "amount_received": 0,
            "application": None,
            "application_fee_amount": fee,
            "automatic_payment_methods": None,
            "canceled_at": None,
            "cancellation_reason": None,
            "capture_method": "automatic",
            "client_secret": f"{pi_id}_secret_{_rand(25)}",
            "confirmation_method": "automatic",
            "created": _now(),
            "currency": currency,
            "customer": customer_id,
            "description": _as_str(p.get("description"), "description"),
            "last_payment_error": None,
            "latest_charge": None,
            "livemode": False,
            "metadata": _as_metadata(p.get("metadata")),
            "next_action": None,
            "on_behalf_of": None,
            "payment_method": pm["id"] if pm else None,
            "payment_method_options": {},
            "payment_method_types": ["card"],
            "processing": None,
            "receipt_email": _as_str(p.get("receipt_email"), "receipt_email"),
            "review": None,
            "setup_future_usage": None,
            "shipping": None,
            "source": None,
            "statement_descriptor": None,
            "statement_descriptor_suffix": None,
            "status": "requires_confirmation" if pm and not confirm else "requires_payment_method",
            "transfer_data": transfer_data,
            "transfer_group": (f"group_{pi_id}" if transfer_data else None),
        }
        self._store(pi, ctx.owner)
        if not confirm:
            return pi
        outcome = CARD_OUTCOMES.get(pm["_card_number"])
        charge_id = self._new_id("ch")
        charge = self._new_charge(charge_id, pi, ctx.owner, None, succeeded=outcome is None)
        charge["payment_method"] = pm["id"]
        charge["payment_method_details"]["card"]["last4"] = pm["card"]["last4"]
        pi["latest_charge"] = charge_id
        if outcome is None:
            pi.update({"status": "succeeded", "amount_received": amount})
            self._store(charge, ctx.owner)
            ctx.events.append(self.build_event("payment_intent.succeeded", _public(pi), ctx.owner))
            return pi
        code, decline_code, message = outcome
        charge.update(
            {
                "status": "failed",
                "failure_code": code,
                "failure_message": message,
                "outcome": {
                    "network_status": "declined_by_network",
                    "reason": decline_code,
                    "risk_level": "normal",
                    "seller_message": "The bank did not return any further details with this "
                    "decline.",
                    "type": "issuer_declined",
                },
            }
        )
        self._store(charge, ctx.owner)
        error = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "charge": charge_id,
            "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
        }
        # An off-session charge that fails leaves the PaymentIntent in
        # requires_payment_method with last_payment_error, and the request
        # answers 402 with the PaymentIntent in the error
        # (https://docs.stripe.com/payments/save-during-payment#charge-saved-payment-method).
        pi["last_payment_error"] = {**error, "payment_method": _public(pm)}
        pi["status"] = "requires_payment_method"
        ctx.events.append(self.build_event("payment_intent.payment_failed", _public(pi), ctx.owner))
        exc = StripeAPIError(
            402,
            message,
            type="card_error",
            code=code,
            decline_code=decline_code,
            charge=charge_id,
            payment_intent=_public(pi),
            payment_method=_public(pm),
        )
        exc.ran = True  # the endpoint ran: saved under the key, events sent
        exc.events = list(ctx.events)
        raise exc

    def payment_methods_of(self, customer_id: str) -> list[dict]:
        with self._lock:
            return [
                _strip(obj)
                for obj in self._objects.values()
                if obj.get("object") == "payment_method" and obj["customer"] == customer_id
            ]


def _strip(obj: dict) -> dict:
    return {k: v for k, v in obj.items() if not k.startswith("_")}
