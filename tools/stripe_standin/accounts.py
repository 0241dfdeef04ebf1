"""Connect accounts (https://docs.stripe.com/api/accounts): objects with
capabilities, updates and deauthorization, the Stripe-Account header, account
links for onboarding."""

from __future__ import annotations

import copy
import re
from typing import Any

from ._common import (
    Delivery,
    StandinError,
    StripeAPIError,
    _as_dict,
    _as_metadata,
    _as_str,
    _check_known,
    _Ctx,
    _no_such,
    _now,
    _rand,
)

_ACCOUNT_PARAMS = frozenset(
    """account_token business_profile business_type capabilities company controller
    country default_currency documents email expand external_account groups
    individual metadata settings tos_acceptance type""".split()
)


def _requirements(enabled: bool) -> dict:
    due = [] if enabled else ["external_account", "tos_acceptance.date"]
    return {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": list(due),
        "disabled_reason": None if enabled else "requirements.past_due",
        "errors": [],
        "eventually_due": list(due),
        "past_due": list(due),
        "pending_verification": [],
    }


class Accounts:
    """Part of :class:`StripeStandin` (state and lock live there)."""

    def _account(self, account_id: str) -> dict | None:
        obj = self._objects.get(account_id)
        return obj if obj is not None and obj.get("object") == "account" else None

    def _resolve_owner(self, stripe_account: str | None) -> str | None:
        if not stripe_account or stripe_account == self.platform_account_id:
            return None
        if self._account(stripe_account) is None or stripe_account in self._deauthorized:
            raise StripeAPIError(
                403,
                f"The provided key '{self.api_key[:8]}****' does not have access to account "
                f"'{stripe_account}' (or that account does not exist). Application access may "
                "have been revoked.",
                code="account_invalid",
            )
        return stripe_account

    def _new_account_object(
        self,
        account_id: str,
        *,
        type_: str = "express",
        charges_enabled: bool = False,
        payouts_enabled: bool | None = None,
        details_submitted: bool | None = None,
        email: str | None = None,
        country: str = "US",
        business_name: str | None = None,
        metadata: dict | None = None,
        default_currency: str = "usd",
        transfers: str | None = None,
    ) -> dict:
        payouts = charges_enabled if payouts_enabled is None else payouts_enabled
        submitted = charges_enabled if details_submitted is None else details_submitted
        status = "active" if charges_enabled else "inactive"
        # capabilities.<name>: "active" | "inactive" | "pending"
        # (https://docs.stripe.com/api/accounts/object#account_object-capabilities-transfers);
        # destination charges need transfers active
        # (https://docs.stripe.com/connect/destination-charges).
        transfers = transfers or status
        # Account objects have no ``livemode`` on Stripe; dj-stripe copes.
        return {
            "id": account_id,
            "object": "account",
            "business_profile": {
                "mcc": None,
                "name": business_name,
                "product_description": None,
                "support_email": None,
                "support_phone": None,
                "support_url": None,
                "url": None,
            },
            "business_type": None,
            "capabilities": {"card_payments": status, "transfers": transfers},
            "charges_enabled": charges_enabled,
            "controller": {"type": "application", "is_controller": True},
            "country": country,
            "created": _now(),
            "default_currency": default_currency,
            "details_submitted": submitted,
            "email": email,
            "external_accounts": {
                "object": "list",
                "data": [],
                "has_more": False,
                "total_count": 0,
                "url": f"/v1/accounts/{account_id}/external_accounts",
            },
            "future_requirements": _requirements(charges_enabled),
            "metadata": dict(metadata or {}),
            "payouts_enabled": payouts,
            "requirements": _requirements(charges_enabled),
            "settings": {
                "branding": {
                    "icon": None,
                    "logo": None,
                    "primary_color": None,
                    "secondary_color": None,
                },
                "card_payments": {"statement_descriptor_prefix": None},
                "dashboard": {"display_name": business_name, "timezone": "Etc/UTC"},
                "payments": {"statement_descriptor": None},
                "payouts": {
                    "debit_negative_balances": True,
                    "schedule": {"delay_days": 2, "interval": "daily"},
                    "statement_descriptor": None,
                },
            },
            "tos_acceptance": {"date": _now() if submitted else None},
            "type": type_,
        }

    def create_account(
        self,
        *,
        charges_enabled: bool = False,
        payouts_enabled: bool | None = None,
        details_submitted: bool | None = None,
        email: str | None = None,
        country: str = "US",
        type: str = "express",
        business_name: str | None = None,
        metadata: dict | None = None,
        account_id: str | None = None,
        transfers: str | None = None,
    ) -> dict:
        """Create a connected account ("acct_..."); no event, as on Stripe.

        ``account_id`` lets a test give it a known id (e.g. a fixture tenant's).
        ``transfers``: the ``capabilities.transfers`` status ("active",
        "inactive", "pending"); by default it follows ``charges_enabled``.
        """
        with self._lock:
            new_id = account_id or self._new_id("acct")
            if new_id in self._objects:
                raise StandinError(f"{new_id} already exists")
            acct = self._new_account_object(
                new_id,
                type_=type,
                charges_enabled=charges_enabled,
                payouts_enabled=payouts_enabled,
                details_submitted=details_submitted,
                email=email,
                country=country,
                business_name=business_name,
                metadata=metadata,
                transfers=transfers,
            )
            return copy.deepcopy(self._store(acct, owner=None))

    def update_account(
        self, account_id: str, *, transfers: str | None = None, **changes: Any
    ) -> Delivery:
        """Change a connected account and deliver ``account.updated`` (Connect).

        ``charges_enabled`` also moves capabilities and requirements the way
        finishing (or losing) onboarding does; ``transfers`` sets
        ``capabilities.transfers`` ("active" | "inactive" | "pending") on its
        own; ``capabilities={...}`` merges into the capabilities; other
        keyword arguments set top-level fields as given. Stripe sends
        ``account.updated`` with ``previous_attributes``
        (https://docs.stripe.com/api/events/types#event_types-account.updated).
        """
        with self._lock:
            acct = self._account(account_id)
            if acct is None or account_id == self.platform_account_id:
                raise StandinError(f"no connected account {account_id}")
            before = copy.deepcopy(acct)
            if "charges_enabled" in changes:
                enabled = bool(changes["charges_enabled"])
                status = "active" if enabled else "inactive"
                acct["capabilities"] = {"card_payments": status, "transfers": status}
                acct["requirements"] = _requirements(enabled)
                changes.setdefault("payouts_enabled", enabled)
                if enabled:
                    changes.setdefault("details_submitted", True)
            capabilities = dict(acct["capabilities"])
            capabilities.update(changes.pop("capabilities", None) or {})
            if transfers is not None:
                if transfers not in ("active", "inactive", "pending"):
                    raise StandinError(
                        f"transfers must be active, inactive or pending: {transfers}"
                    )
                capabilities["transfers"] = transfers
            acct["capabilities"] = capabilities
            acct.update(copy.deepcopy(changes))
            previous = {k: before.get(k) for k in acct if acct[k] != before.get(k)}
            event = self.build_event(
                "account.updated", acct, account=account_id, previous_attributes=previous
            )
        return self._deliver_once(event)

    def deauthorize(self, account_id: str) -> Delivery:
        """The connected account disconnects the platform's application:
        ``account.application.deauthorized`` is delivered with ``account`` =
        the account id and an ``application`` object as ``data.object``
        (https://docs.stripe.com/api/events/types#event_types-account.application.deauthorized,
        https://docs.stripe.com/connect/webhooks). From then on requests for
        that account are refused with ``account_invalid``."""
        with self._lock:
            acct = self._account(account_id)
            if acct is None or account_id == self.platform_account_id:
                raise StandinError(f"no connected account {account_id}")
            if account_id in self._deauthorized:
                raise StandinError(f"{account_id} is already deauthorized")
            self._deauthorized.add(account_id)
            application = {
                "id": self.application_id,
                "object": "application",
                "name": "Altar (stand-in platform)",
            }
            event = self.build_event("account.application.deauthorized", application, account_id)
        return self._deliver_once(event)

    def _api_create_account(self, ctx: _Ctx, match: re.Match) -> dict:
        p = ctx.params
        _check_known(p, _ACCOUNT_PARAMS)
        if ctx.owner is not None:
            raise StripeAPIError(
                400, "Connected accounts cannot create accounts.", code="parameter_invalid"
            )
        kind = p.get("type") or "express"
        if kind not in ("express", "standard", "custom"):
            raise StripeAPIError(
                400, f"Invalid type: {kind}", code="parameter_invalid", param="type"
            )
        profile = _as_dict(p.get("business_profile"), "business_profile")
        acct = self._new_account_object(
            self._new_id("acct"),
            type_=kind,
            email=_as_str(p.get("email"), "email"),
            country=(p.get("country") or "US").upper(),
            business_name=profile.get("name"),
            metadata=_as_metadata(p.get("metadata")),
            default_currency=(p.get("default_currency") or "usd").lower(),
        )
        return self._store(acct, None)

    def _api_get_account(self, ctx: _Ctx, match: re.Match) -> dict:
        acct = self._account(match.group(1))
        # The platform reads its connected accounts (and itself); a connected
        # account can read only itself. Always the current state: the platform
        # re-reads it on account.updated because events arrive in any order
        # (https://docs.stripe.com/webhooks#event-ordering).
        if acct is None or (ctx.owner is not None and acct["id"] != ctx.owner):
            raise _no_such("account", match.group(1), param="account")
        if acct["id"] in self._deauthorized:
            self._resolve_owner(acct["id"])  # raises account_invalid
        return acct

    def _api_get_own_account(self, ctx: _Ctx, match: re.Match) -> dict:
        acct = self._account(ctx.owner or self.platform_account_id)
        assert acct is not None
        return acct

    def _api_create_account_link(self, ctx: _Ctx, match: re.Match) -> dict:
        p = ctx.params
        _check_known(
            p,
            frozenset(
                "account collect collection_options expand refresh_url return_url type".split()
            ),
        )
        account_id = _as_str(p.get("account"), "account", required=True)
        assert account_id is not None
        if self._account(account_id) is None or account_id == self.platform_account_id:
            raise _no_such("account", account_id, param="account", status=400)
        kind = _as_str(p.get("type"), "type", required=True)
        if kind not in ("account_onboarding", "account_update"):
            raise StripeAPIError(
                400, f"Invalid type: {kind}", code="parameter_invalid", param="type"
            )
        token = _rand(24)
        self._account_links[token] = {
            "account": account_id,
            "return_url": _as_str(p.get("return_url"), "return_url"),
            "refresh_url": _as_str(p.get("refresh_url"), "refresh_url"),
        }
        return {
            "object": "account_link",
            "created": _now(),
            "expires_at": _now() + 300,
            "url": f"{self.base_url}/connect/onboard/{token}",
        }
