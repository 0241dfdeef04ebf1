"""Checkout Sessions (https://docs.stripe.com/api/checkout/sessions): the API,
and what the buyer does on the hosted page (pay, delayed payments, cancel)
and the lapse of open sessions."""

from __future__ import annotations

import copy
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ._common import (
    CHECKOUT_MAX_EXPIRY,
    CHECKOUT_MIN_EXPIRY,
    Delivery,
    StandinError,
    StripeAPIError,
    _as_currency,
    _as_dict,
    _as_int,
    _as_metadata,
    _as_str,
    _check_charge_amount,
    _check_known,
    _Ctx,
    _missing,
    _no_such,
    _now,
    _public,
    _rand,
)
from .customers import _customer_object

# Parameters Stripe accepts on the endpoints we serve. Anything else is a 400
# "Received unknown parameter", as on Stripe. Accepted-but-unmodelled ones are
# stored or ignored.
_SESSION_PARAMS = frozenset(
    """adaptive_pricing after_expiration allow_promotion_codes automatic_tax
    billing_address_collection cancel_url client_reference_id consent_collection
    currency custom_fields custom_text customer customer_creation customer_email
    customer_update discounts expand expires_at invoice_creation line_items locale
    metadata mode optional_items payment_intent_data payment_method_collection
    payment_method_configuration payment_method_data payment_method_options
    payment_method_types permissions phone_number_collection redirect_on_completion
    return_url saved_payment_method_options setup_intent_data
    shipping_address_collection shipping_options submit_type subscription_data
    success_url tax_id_collection ui_mode wallet_options""".split()
)


_LINE_ITEM_PARAMS = frozenset(
    "adjustable_quantity dynamic_tax_rates price price_data quantity tax_rates".split()
)


_PRICE_DATA_PARAMS = frozenset(
    "currency product product_data recurring tax_behavior unit_amount unit_amount_decimal".split()
)


_PRODUCT_DATA_PARAMS = frozenset("description images metadata name tax_code unit_label".split())


_PI_DATA_PARAMS = frozenset(
    """application_fee_amount capture_method description metadata on_behalf_of
    receipt_email setup_future_usage shipping statement_descriptor
    statement_descriptor_suffix transfer_data transfer_group""".split()
)


class CheckoutSessions:
    """Part of :class:`StripeStandin` (state and lock live there)."""

    def pay(
        self,
        session_id: str,
        *,
        async_payment: bool = False,
        email: str | None = None,
        card: str = "4242424242424242",
    ) -> Delivery:
        """What the hosted page's Pay button does; returns the delivery made.

        Creates the PaymentIntent and Charge, completes the session and
        delivers ``checkout.session.completed`` synchronously - so that, as
        with real Stripe in practice, the booking is confirmed by the time the
        buyer's browser lands on success_url. The lock is released before the
        delivery, so the platform may call back into the stand-in meanwhile.

        ``async_payment=True`` models a delayed method (bank debit): the session
        completes with ``payment_status: "unpaid"`` and the outcome follows
        with :meth:`async_succeed` / :meth:`async_fail`.

        ``card``: the test card number paid with (payment_intents.CARD_OUTCOMES
        says how it behaves when charged again off-session). With
        ``payment_intent_data[setup_future_usage]`` the card is saved as a
        PaymentMethod attached to the session's Customer
        (https://docs.stripe.com/payments/save-during-payment).
        """
        with self._lock:
            session = self._open_session(session_id)
            owner = self._owners[session_id]
            now = _now()
            pi_data = session.pop("_payment_intent_data", {})
            amount = session["amount_total"]
            currency = session["currency"]
            buyer_email = email or session.get("customer_email") or "buyer@example.com"

            customer_id = session.get("customer")
            # Saving the card for later needs a Customer: Checkout makes one
            # if none was given (customer_creation "if_required").
            if customer_id is None and (
                session.get("customer_creation") == "always" or pi_data.get("setup_future_usage")
            ):
                customer_id = self._store(
                    _customer_object(self._new_id("cus"), email=buyer_email), owner
                )["id"]

            transfer_data = pi_data.get("transfer_data")
            fee = pi_data.get("application_fee_amount")
            future_usage = pi_data.get("setup_future_usage")
            pm = self._new_payment_method(card, customer_id if future_usage else None, owner)
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
                "created": now,
                "currency": currency,
                "customer": customer_id,
                "description": pi_data.get("description"),
                "last_payment_error": None,
                "latest_charge": charge_id,
                "livemode": False,
                "metadata": dict(pi_data.get("metadata", {})),
                "next_action": None,
                "on_behalf_of": pi_data.get("on_behalf_of"),
                "payment_method": pm["id"],
                "payment_method_options": {},
                "payment_method_types": ["us_bank_account" if async_payment else "card"],
                "processing": None,
                "receipt_email": pi_data.get("receipt_email"),
                "review": None,
                "setup_future_usage": future_usage,
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
            charge = self._new_charge(
                charge_id, pi, owner, buyer_email, succeeded=not async_payment
            )
            self._store(charge, owner)

            session.update(
                {
                    "status": "complete",
                    "payment_status": "unpaid" if async_payment else "paid",
                    "payment_intent": pi_id,
                    "customer": customer_id,
                    "customer_details": {
                        "address": None,
                        "email": buyer_email,
                        "name": None,
                        "phone": None,
                        "tax_exempt": "none",
                        "tax_ids": [],
                    },
                    "url": None,
                }
            )
            event = self.build_event("checkout.session.completed", _public(session), owner)
        return self._deliver_once(event)

    def _open_session(self, session_id: str) -> dict:
        session = self._objects.get(session_id)
        if session is None or session.get("object") != "checkout.session":
            raise StandinError(f"no checkout session {session_id}")
        if session["status"] != "open":
            raise StandinError(f"checkout session {session_id} is {session['status']}")
        if session["expires_at"] <= _now():
            raise StandinError(f"checkout session {session_id} has lapsed")
        return session

    def _complete_async(self, session_id: str, succeed: bool) -> Delivery:
        with self._lock:
            session = self._objects.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                raise StandinError(f"no checkout session {session_id}")
            pi = self._objects.get(session.get("payment_intent") or "")
            if session["status"] != "complete" or pi is None or pi["status"] != "processing":
                raise StandinError(f"checkout session {session_id} has no payment in progress")
            owner = self._owners[session_id]
            charge = self._objects[pi["latest_charge"]]
            if succeed:
                pi.update({"status": "succeeded", "amount_received": pi["amount"]})
                charge.update(
                    {
                        "status": "succeeded",
                        "paid": True,
                        "captured": True,
                        "amount_captured": charge["amount"],
                        "balance_transaction": self._settle_balance(
                            charge["id"], charge["amount"], charge["currency"], "charge", owner
                        ),
                        "outcome": {
                            "network_status": "approved_by_network",
                            "reason": None,
                            "risk_level": "normal",
                            "seller_message": "Payment complete.",
                            "type": "authorized",
                        },
                    }
                )
                if pi["transfer_data"]:
                    charge["transfer"] = self._make_transfer(pi, charge["id"])
                if pi["application_fee_amount"] is not None:
                    charge["application_fee"] = self._make_application_fee(pi, charge["id"], _now())
                session["payment_status"] = "paid"
                kind = "checkout.session.async_payment_succeeded"
            else:
                error = {
                    "charge": charge["id"],
                    "code": "payment_method_provider_decline",
                    "decline_code": "insufficient_funds",
                    "message": "The customer's bank account has insufficient funds.",
                    "type": "card_error",
                }
                pi.update({"status": "requires_payment_method", "last_payment_error": error})
                charge.update(
                    {
                        "status": "failed",
                        "failure_code": "insufficient_funds",
                        "failure_message": error["message"],
                        "outcome": {
                            "network_status": "declined_by_network",
                            "reason": "insufficient_funds",
                            "risk_level": "normal",
                            "seller_message": "The bank returned the decline code "
                            "`insufficient_funds`.",
                            "type": "issuer_declined",
                        },
                    }
                )
                kind = "checkout.session.async_payment_failed"
            event = self.build_event(kind, _public(session), owner)
        return self._deliver_once(event)

    def async_succeed(self, session_id: str) -> Delivery:
        """The delayed payment of a session settled: ``async_payment_succeeded``."""
        return self._complete_async(session_id, succeed=True)

    def async_fail(self, session_id: str) -> Delivery:
        """The delayed payment of a session failed: ``async_payment_failed``."""
        return self._complete_async(session_id, succeed=False)

    def cancel(self, session_id: str) -> str | None:
        """What the hosted page's Cancel (back) link does: nothing at Stripe.

        Returns the session's ``cancel_url`` (with ``{CHECKOUT_SESSION_ID}``
        filled in), where the buyer's browser goes. No event is sent and the
        session stays ``open`` and payable until ``expires_at`` or until the
        platform calls ``POST /v1/checkout/sessions/{id}/expire``: "If set,
        Checkout displays a back button and customers will be directed to this
        URL if they decide to cancel payment and return to your website."
        (https://docs.stripe.com/api/checkout/sessions/create#create_checkout_session-cancel_url)
        """
        with self._lock:
            session = self._objects.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                raise StandinError(f"no checkout session {session_id}")
            url = session.get("cancel_url")
        return url.replace("{CHECKOUT_SESSION_ID}", session_id) if url else None

    def expire(self, session_id: str) -> Delivery:
        """What ``POST /v1/checkout/sessions/{id}/expire`` does, for tests that
        need it without an API client: the session becomes ``expired`` and
        ``checkout.session.expired`` is delivered before this returns.
        Only an ``open`` session can be expired
        (https://docs.stripe.com/api/checkout/sessions/expire)."""
        with self._lock:
            session = self._objects.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                raise StandinError(f"no checkout session {session_id}")
            if session["status"] != "open":
                raise StandinError(f"checkout session {session_id} is {session['status']}")
            event = self._expire_session(session, request_id=None, idempotency_key=None)
        return self._deliver_once(event)

    def _expire_session(
        self, session: dict, *, request_id: str | None, idempotency_key: str | None
    ) -> dict:
        session.update({"status": "expired", "url": None})
        session.pop("_payment_intent_data", None)
        return self.build_event(
            "checkout.session.expired",
            _public(session),
            self._owners[session["id"]],
            request_id=request_id,
            idempotency_key=idempotency_key,
        )

    def expire_due(self, now: int | float | None = None) -> list[Delivery]:
        """Lapse open sessions whose ``expires_at`` has passed (as of ``now``).

        Each one becomes ``expired`` and its ``checkout.session.expired`` event
        is delivered before this returns. The CLI runs this every few seconds.
        """
        moment = _now() if now is None else now
        with self._lock:
            due = [
                obj
                for obj in self._objects.values()
                if obj.get("object") == "checkout.session"
                and obj["status"] == "open"
                and obj["expires_at"] <= moment
            ]
            due.sort(key=lambda s: s["expires_at"])
            events = [self._expire_session(s, request_id=None, idempotency_key=None) for s in due]
        return [self._deliver_once(e) for e in events]

    def _line_item_list(self, session_id: str) -> dict:
        items = copy.deepcopy(self._line_items.get(session_id, []))
        return {
            "object": "list",
            "data": items,
            "has_more": False,
            "url": f"/v1/checkout/sessions/{session_id}/line_items",
        }

    def _api_line_items(self, ctx: _Ctx, match: re.Match) -> dict:
        session = self._lookup("checkout.session", match.group(1), ctx.owner)
        return self._line_item_list(session["id"])

    def _api_create_session(self, ctx: _Ctx, match: re.Match) -> dict:
        p = ctx.params
        _check_known(p, _SESSION_PARAMS)
        mode = _as_str(p.get("mode"), "mode", required=True)
        if mode != "payment":
            raise StripeAPIError(
                400,
                f"Invalid mode: {mode}. (The Stripe stand-in implements mode=payment only.)",
                code="parameter_invalid",
                param="mode",
            )
        # At 2026-08-26.dahlia the hosted page is ui_mode "hosted_page" (the
        # library's Session.ui_mode literals: elements, embedded_page, form,
        # hosted_page; "Defaults to `hosted_page`").
        ui_mode = p.get("ui_mode") or "hosted_page"
        if ui_mode != "hosted_page":
            raise StripeAPIError(
                400,
                "The Stripe stand-in implements ui_mode=hosted_page only.",
                code="parameter_invalid",
                param="ui_mode",
            )
        now = _now()

        raw_items = p.get("line_items")
        if raw_items in (None, "", [], {}):
            raise _missing("line_items")
        if not isinstance(raw_items, list):
            raise StripeAPIError(400, "Invalid array", code="parameter_invalid", param="line_items")
        items = [self._line_item(raw, i) for i, raw in enumerate(raw_items)]
        currencies = {item["currency"] for item in items}
        if len(currencies) > 1:
            raise StripeAPIError(
                400,
                "All line items must use the same currency; found "
                f"{', '.join(sorted(currencies))}.",
                code="parameter_invalid",
                param="line_items",
            )
        currency = items[0]["currency"]
        if p.get("currency") and _as_currency(p["currency"], "currency") != currency:
            raise StripeAPIError(
                400,
                "currency must match the line items' currency.",
                code="parameter_invalid",
                param="currency",
            )
        amount_total = sum(item["amount_total"] for item in items)
        _check_charge_amount(amount_total, currency, param="line_items")

        expires_at = _as_int(p.get("expires_at"), "expires_at")
        if expires_at is None:
            expires_at = now + CHECKOUT_MAX_EXPIRY
        elif expires_at - now < CHECKOUT_MIN_EXPIRY:
            raise StripeAPIError(
                400,
                "The `expires_at` timestamp must be at least 30 minutes from Checkout Session "
                "creation.",
                code="parameter_invalid",
                param="expires_at",
            )
        elif expires_at - now > CHECKOUT_MAX_EXPIRY:
            raise StripeAPIError(
                400,
                "The `expires_at` timestamp must be less than 24 hours from Checkout Session "
                "creation.",
                code="parameter_invalid",
                param="expires_at",
            )

        customer = _as_str(p.get("customer"), "customer")
        customer_email = _as_str(p.get("customer_email"), "customer_email", max_len=800)
        if customer and customer_email:
            raise StripeAPIError(
                400,
                "You may only specify one of these parameters: customer, customer_email.",
                code="parameter_invalid",
                param="customer_email",
            )
        if customer:
            self._lookup("customer", customer, ctx.owner, param="customer", status=400)
        customer_creation = p.get("customer_creation") or "if_required"
        if customer_creation not in ("always", "if_required"):
            raise StripeAPIError(
                400,
                f"Invalid customer_creation: {customer_creation}",
                code="parameter_invalid",
                param="customer_creation",
            )

        pi_data = self._payment_intent_data(ctx, amount_total)
        session_id = self._new_id("cs")
        success_url = _as_str(p.get("success_url"), "success_url", max_len=5000)
        cancel_url = _as_str(p.get("cancel_url"), "cancel_url", max_len=5000)
        for name, url in (("success_url", success_url), ("cancel_url", cancel_url)):
            if url is not None and not url.startswith(("http://", "https://")):
                raise StripeAPIError(400, "Not a valid URL", code="url_invalid", param=name)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "adaptive_pricing": {"enabled": False},
            "after_expiration": None,
            "allow_promotion_codes": None,
            "amount_subtotal": amount_total,
            "amount_total": amount_total,
            "automatic_tax": {
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            "billing_address_collection": p.get("billing_address_collection"),
            "cancel_url": cancel_url,
            "client_reference_id": _as_str(
                p.get("client_reference_id"), "client_reference_id", max_len=200
            ),
            "client_secret": None,
            "collected_information": None,
            "consent": None,
            "consent_collection": None,
            "created": now,
            "currency": currency,
            "currency_conversion": None,
            "custom_fields": [],
            "custom_text": {
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            "customer": customer,
            "customer_creation": customer_creation,
            "customer_details": None,
            "customer_email": customer_email,
            "discounts": [],
            "expires_at": expires_at,
            "invoice": None,
            "invoice_creation": {"enabled": False, "invoice_data": {}},
            "livemode": False,
            "locale": p.get("locale"),
            "metadata": _as_metadata(p.get("metadata")),
            "mode": "payment",
            "payment_intent": None,
            "payment_link": None,
            "payment_method_collection": "if_required",
            "payment_method_configuration_details": None,
            "payment_method_options": {},
            "payment_method_types": p.get("payment_method_types") or ["card"],
            "payment_status": "unpaid",
            "phone_number_collection": {"enabled": False},
            "recovered_from": None,
            "saved_payment_method_options": None,
            "setup_intent": None,
            "shipping_address_collection": None,
            "shipping_cost": None,
            "shipping_options": [],
            "status": "open",
            "submit_type": p.get("submit_type"),
            "subscription": None,
            "success_url": success_url,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "ui_mode": "hosted_page",
            "url": f"{self.base_url}/pay/{session_id}",
            "wallet_options": None,
            # Private: what the PaymentIntent will be made of. _public() hides it.
            "_payment_intent_data": pi_data,
        }
        for item in items:
            item["id"] = f"li_{_rand(24)}"
            item["price"]["id"] = f"price_{_rand(24)}"
        self._line_items[session_id] = items
        return self._store(session, ctx.owner)

    def _line_item(self, raw: Any, i: int) -> dict:
        prefix = f"line_items[{i}]"
        item = _as_dict(raw, prefix)
        _check_known(item, _LINE_ITEM_PARAMS, prefix)
        quantity = _as_int(item.get("quantity"), f"{prefix}[quantity]", minimum=1, required=True)
        assert quantity is not None
        if item.get("price"):
            raise _no_such("price", str(item["price"]), param=f"{prefix}[price]", status=400)
        price_data = _as_dict(item.get("price_data"), f"{prefix}[price_data]")
        if not price_data:
            raise StripeAPIError(
                400,
                f"You must specify either `price` or `price_data` in {prefix}.",
                code="parameter_missing",
                param=f"{prefix}[price_data]",
            )
        pprefix = f"{prefix}[price_data]"
        _check_known(price_data, _PRICE_DATA_PARAMS, pprefix)
        currency = _as_currency(price_data.get("currency"), f"{pprefix}[currency]")
        unit_amount = _as_int(price_data.get("unit_amount"), f"{pprefix}[unit_amount]", minimum=0)
        if unit_amount is None:
            decimal = price_data.get("unit_amount_decimal")
            if decimal in (None, ""):
                raise _missing(f"{pprefix}[unit_amount]")
            try:
                unit_decimal = Decimal(str(decimal))
            except InvalidOperation:
                raise StripeAPIError(
                    400,
                    f"Invalid decimal: {decimal}",
                    code="parameter_invalid",
                    param=f"{pprefix}[unit_amount_decimal]",
                ) from None
            if unit_decimal < 0:
                raise StripeAPIError(
                    400,
                    "This value must be greater than or equal to 0.",
                    code="parameter_invalid",
                    param=f"{pprefix}[unit_amount_decimal]",
                )
            total = int((unit_decimal * quantity).to_integral_value())
        else:
            total = unit_amount * quantity
        if price_data.get("recurring"):
            raise StripeAPIError(
                400,
                "You must be in subscription mode to specify a recurring price.",
                code="parameter_invalid",
                param=f"{pprefix}[recurring]",
            )
        product_data = _as_dict(price_data.get("product_data"), f"{pprefix}[product_data]")
        if price_data.get("product"):
            raise _no_such(
                "product", str(price_data["product"]), param=f"{pprefix}[product]", status=400
            )
        if not product_data:
            raise _missing(f"{pprefix}[product_data]")
        _check_known(product_data, _PRODUCT_DATA_PARAMS, f"{pprefix}[product_data]")
        name = _as_str(
            product_data.get("name"), f"{pprefix}[product_data][name]", required=True, max_len=250
        )
        _as_metadata(product_data.get("metadata"), f"{pprefix}[product_data][metadata]")
        return {
            "id": None,
            "object": "item",
            "amount_discount": 0,
            "amount_subtotal": total,
            "amount_tax": 0,
            "amount_total": total,
            "currency": currency,
            "description": name,
            "discounts": [],
            "price": {
                "id": None,
                "object": "price",
                "active": False,
                "billing_scheme": "per_unit",
                "created": _now(),
                "currency": currency,
                "custom_unit_amount": None,
                "livemode": False,
                "lookup_key": None,
                "metadata": {},
                "nickname": None,
                "product": f"prod_{_rand(14)}",
                "recurring": None,
                "tax_behavior": price_data.get("tax_behavior") or "unspecified",
                "tiers_mode": None,
                "transform_quantity": None,
                "type": "one_time",
                "unit_amount": unit_amount,
                "unit_amount_decimal": str(
                    unit_amount if unit_amount is not None else price_data["unit_amount_decimal"]
                ),
            },
            "quantity": quantity,
        }

    def _payment_intent_data(self, ctx: _Ctx, amount_total: int) -> dict:
        raw = _as_dict(ctx.params.get("payment_intent_data"), "payment_intent_data")
        _check_known(raw, _PI_DATA_PARAMS, "payment_intent_data")
        out: dict[str, Any] = {
            "metadata": _as_metadata(raw.get("metadata"), "payment_intent_data[metadata]")
        }
        fee = _as_int(
            raw.get("application_fee_amount"),
            "payment_intent_data[application_fee_amount]",
            minimum=0,
        )
        capture = raw.get("capture_method") or None
        if capture not in (None, "automatic", "automatic_async"):
            raise StripeAPIError(
                400,
                "The Stripe stand-in implements automatic capture only.",
                code="parameter_invalid",
                param="payment_intent_data[capture_method]",
            )
        out["capture_method"] = capture
        future_usage = raw.get("setup_future_usage") or None
        if future_usage not in (None, "off_session", "on_session"):
            raise StripeAPIError(
                400,
                f"Invalid setup_future_usage: {future_usage}",
                code="parameter_invalid",
                param="payment_intent_data[setup_future_usage]",
            )
        out["setup_future_usage"] = future_usage
        transfer_raw = _as_dict(raw.get("transfer_data"), "payment_intent_data[transfer_data]")
        _check_known(
            transfer_raw, frozenset({"amount", "destination"}), "payment_intent_data[transfer_data]"
        )
        transfer_data = None
        if transfer_raw:
            param = "payment_intent_data[transfer_data][destination]"
            destination = _as_str(transfer_raw.get("destination"), param, required=True)
            assert destination is not None
            acct = self._account(destination)
            if (
                acct is None
                or destination == self.platform_account_id
                or destination in self._deauthorized
            ):
                raise _no_such("destination", destination, param=param, status=400)
            if acct["capabilities"].get("transfers") != "active":
                # https://docs.stripe.com/connect/destination-charges: the
                # destination needs the transfers capability.
                raise StripeAPIError(
                    400,
                    "Your destination account needs to have at least one of the following "
                    "capabilities enabled: transfers, crypto_transfers, legacy_payments",
                    code="insufficient_capabilities_for_transfer",
                    param=param,
                )
            if ctx.owner is not None:
                raise StripeAPIError(
                    400,
                    "transfer_data cannot be used on a direct charge (Stripe-Account).",
                    code="parameter_invalid",
                    param=param,
                )
            transfer_data = {"destination": destination}
            t_amount = _as_int(
                transfer_raw.get("amount"), "payment_intent_data[transfer_data][amount]", minimum=0
            )
            if t_amount is not None:
                if fee is not None:
                    raise StripeAPIError(
                        400,
                        "You may only specify one of these parameters: "
                        "application_fee_amount, transfer_data[amount].",
                        code="parameter_invalid",
                        param="payment_intent_data[transfer_data][amount]",
                    )
                transfer_data["amount"] = t_amount
        if fee is not None:
            if transfer_data is None and ctx.owner is None:
                raise StripeAPIError(
                    400,
                    "Can only apply an application_fee_amount when the PaymentIntent is "
                    "attempting a direct payment (using an OAuth key or Stripe-Account header) "
                    "or destination payment (using `transfer_data[destination]`).",
                    code="parameter_invalid",
                    param="payment_intent_data[application_fee_amount]",
                )
            if fee > amount_total:
                raise StripeAPIError(
                    400,
                    "The application fee cannot be greater than the amount of the payment.",
                    code="parameter_invalid",
                    param="payment_intent_data[application_fee_amount]",
                )
        out["application_fee_amount"] = fee
        out["transfer_data"] = transfer_data
        on_behalf_of = _as_str(raw.get("on_behalf_of"), "payment_intent_data[on_behalf_of]")
        if on_behalf_of is not None and self._account(on_behalf_of) is None:
            raise _no_such(
                "account", on_behalf_of, param="payment_intent_data[on_behalf_of]", status=400
            )
        out["on_behalf_of"] = on_behalf_of
        for key in (
            "description",
            "receipt_email",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "transfer_group",
        ):
            out[key] = _as_str(raw.get(key), f"payment_intent_data[{key}]")
        return out

    def _api_expire_session(self, ctx: _Ctx, match: re.Match) -> dict:
        session = self._lookup("checkout.session", match.group(1), ctx.owner)
        # "A Checkout Session can be expired when it is in one of these
        # statuses: open ... Returns an error if the Checkout Session has
        # already expired or isn't in an expireable state."
        # (https://docs.stripe.com/api/checkout/sessions/expire)
        if session["status"] != "open":
            raise StripeAPIError(
                400,
                'Only Checkout Sessions with a status in ["open"] can be expired. This '
                f'Checkout Session has a status of "{session["status"]}".',
                param="session",
            )
        ctx.events.append(
            self._expire_session(
                session, request_id=ctx.request_id, idempotency_key=ctx.idempotency_key
            )
        )
        return session
