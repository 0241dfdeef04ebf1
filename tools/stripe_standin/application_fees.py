"""Application fees (https://docs.stripe.com/api/application_fees): what
the platform keeps of a destination charge, and their refunds when a refund
asks for ``refund_application_fee``."""

from __future__ import annotations

import re

from ._common import _check_known, _Ctx, _now


class ApplicationFees:
    """Part of :class:`StripeStandin` (state and lock live there)."""

    def _make_application_fee(self, pi: dict, charge_id: str, created: int) -> str:
        """The platform's fee on a destination charge that succeeded: an
        ``application_fee`` on the platform account, its ``account`` the
        destination (https://docs.stripe.com/connect/destination-charges#application-fee)."""
        fee_id = self._new_id("fee")
        amount = pi["application_fee_amount"]
        destination = (pi["transfer_data"] or {}).get("destination") or self.platform_account_id
        fee = {
            "id": fee_id,
            "object": "application_fee",
            "account": destination,
            "amount": amount,
            "amount_refunded": 0,
            "application": self.application_id,
            "balance_transaction": self._settle_balance(
                fee_id, amount, pi["currency"], "application_fee", None
            ),
            "charge": charge_id,
            "created": created,
            "currency": pi["currency"],
            "fee_source": {"charge": charge_id, "type": "charge"},
            "livemode": False,
            "originating_transaction": None,
            "refunded": False,
            "refunds": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/application_fees/{fee_id}/refunds",
            },
        }
        return self._store(fee, None)["id"]

    def _refund_application_fee(self, charge: dict, refunded: int) -> None:
        """A refund of ``refunded`` with ``refund_application_fee=true``: "If a
        full charge refund is given, the full application fee will be
        refunded. Otherwise, the application fee will be refunded in an
        amount proportional to the amount of the charge refunded"
        (https://docs.stripe.com/api/refunds/create#create_refund-refund_application_fee).
        Each refund gives back its own share, rounded to the unit."""
        fee = self._objects.get(charge.get("application_fee") or "")
        if fee is None:
            return
        left = fee["amount"] - fee["amount_refunded"]
        if charge["amount_refunded"] >= charge["amount"]:
            share = left
        else:
            share = min(
                left, (fee["amount"] * refunded * 2 + charge["amount"]) // (2 * charge["amount"])
            )
        if share <= 0:
            return
        refund_id = self._new_id("fr")
        fee_refund = {
            "id": refund_id,
            "object": "fee_refund",
            "amount": share,
            "balance_transaction": self._settle_balance(
                refund_id, -share, fee["currency"], "application_fee_refund", None
            ),
            "created": _now(),
            "currency": fee["currency"],
            "fee": fee["id"],
            "metadata": {},
        }
        self._store(fee_refund, None)
        fee["amount_refunded"] += share
        fee["refunded"] = fee["amount_refunded"] >= fee["amount"]
        fee["refunds"]["data"].insert(0, fee_refund)
        fee["refunds"]["total_count"] += 1

    def _api_list_application_fees(self, ctx: _Ctx, match: re.Match) -> dict:
        """``GET /v1/application_fees`` filtered by ``charge``, newest first,
        paginated (https://docs.stripe.com/api/application_fees/list)."""
        _check_known(
            ctx.params,
            frozenset("charge created ending_before expand limit starting_after".split()),
        )
        items = self._listed("application_fee", ctx.owner, ctx.params, charge="charge")
        return self._list_page(items, "/v1/application_fees", ctx.params)
