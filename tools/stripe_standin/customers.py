"""Customers (https://docs.stripe.com/api/customers)."""

from __future__ import annotations

import re

from ._common import _as_metadata, _as_str, _check_known, _Ctx, _now, _rand

_CUSTOMER_PARAMS = frozenset(
    """address balance description email expand invoice_prefix invoice_settings
    metadata name next_invoice_sequence payment_method phone preferred_locales
    shipping tax tax_exempt tax_id_data test_clock""".split()
)


def _customer_object(
    customer_id: str,
    *,
    email: str | None = None,
    name: str | None = None,
    phone: str | None = None,
    description: str | None = None,
    metadata: dict | None = None,
) -> dict:
    return {
        "id": customer_id,
        "object": "customer",
        "address": None,
        "balance": 0,
        "created": _now(),
        "currency": None,
        "default_source": None,
        "delinquent": False,
        "description": description,
        "discount": None,
        "email": email,
        "invoice_prefix": _rand(8).upper(),
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": dict(metadata or {}),
        "name": name,
        "next_invoice_sequence": 1,
        "phone": phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


class Customers:
    """Part of :class:`StripeStandin` (state and lock live there)."""

    def _api_create_customer(self, ctx: _Ctx, match: re.Match) -> dict:
        p = ctx.params
        _check_known(p, _CUSTOMER_PARAMS)
        customer = _customer_object(
            self._new_id("cus"),
            email=_as_str(p.get("email"), "email", max_len=512),
            name=_as_str(p.get("name"), "name", max_len=256),
            phone=_as_str(p.get("phone"), "phone", max_len=20),
            description=_as_str(p.get("description"), "description"),
            metadata=_as_metadata(p.get("metadata")),
        )
        return self._store(customer, ctx.owner)
