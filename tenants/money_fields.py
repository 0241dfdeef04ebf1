"""Money as staff type and read it in the admin: in the currency's units
("1,800.00", "1800", "¥ 180000" for JPY), stored as Stripe's minor units.

An owner who types 1800 sells the package for 1,800.00, never for 18.00:
the form field multiplies by the currency's minor units per major unit
(100, or 1 for zero-decimal currencies) and refuses more decimals than the
currency has.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from unfold.widgets import UnfoldAdminTextInputWidget

from tenants.validators import minor_per_major

# Digits with optional "," thousands groups and an optional "." fraction;
# a currency code or symbol around the number is ignored.
_NUMBER_RE = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_AROUND_RE = re.compile(r"^[^\d]*?([\d.,]+)[^\d]*$")


def parse_money(text: str, currency: str) -> int:
    """ "1,800.00" / "1800" / "1800.5" in `currency` -> minor units (180000,
    180000, 180050 for USD). ValidationError (code "invalid" or
    "too_many_decimals") on anything else."""
    match = _AROUND_RE.match(text.strip())
    number = match.group(1) if match else ""
    if not _NUMBER_RE.match(number):
        raise ValidationError("Enter an amount such as 1,800.00.", code="invalid")
    try:
        amount = Decimal(number.replace(",", ""))
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits none
        raise ValidationError("Enter an amount such as 1,800.00.", code="invalid") from exc
    per_major = minor_per_major(currency)
    minor = amount * per_major
    if minor != minor.to_integral_value():
        decimals = len(str(per_major)) - 1
        raise ValidationError(
            f"{currency.upper()} amounts have {decimals or 'no'} decimal"
            f"{'' if decimals == 1 else 's'}.",
            code="too_many_decimals",
        )
    return int(minor)


def money_text(cents: int, currency: str) -> str:
    """Minor units as staff read them: "1,800.00 USD", "180,000 JPY" (the
    admin's one format; the couple's pages use their locale's pattern)."""
    per_major = minor_per_major(currency)
    if per_major == 1:
        return f"{cents:,} {currency.upper()}"
    sign = "-" if cents < 0 else ""
    whole, minor = divmod(abs(cents), per_major)
    return f"{sign}{whole:,}.{minor:02d} {currency.upper()}"


def money_input_text(cents: int | None, currency: str) -> str:
    """The amount in a form's text box: "1,800.00" (no code: the label has it)."""
    if cents is None:
        return ""
    return money_text(cents, currency).rsplit(" ", 1)[0]


class MoneyField(forms.Field):
    """A form field for an amount in `currency`'s units; cleaned to minor units."""

    widget = UnfoldAdminTextInputWidget(attrs={"inputmode": "decimal", "autocomplete": "off"})

    def __init__(self, *, currency: str = "usd", min_value: int | None = 0, **kwargs: Any):
        self.currency = currency
        self.min_value = min_value
        super().__init__(**kwargs)

    def set_currency(self, currency: str) -> None:
        self.currency = currency
        if self.label and "(" not in str(self.label):
            self.label = f"{self.label} ({currency.upper()})"

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, int):
            return money_input_text(value, self.currency)
        return value

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if isinstance(value, int):
            return value
        return parse_money(str(value), self.currency)

    def validate(self, value: int | None) -> None:
        super().validate(value)
        if value is not None and self.min_value is not None and value < self.min_value:
            raise ValidationError("Enter an amount of zero or more.", code="min_value")

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return self.to_python(data) != (initial if initial not in self.empty_values else None)
        except ValidationError:
            return True
