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

    def __init__(
        self,
        *,
        currency: str = "usd",
        min_value: int | None = 0,
        empty_as_zero: bool = False,
        **kwargs: Any,
    ):
        self.currency = currency
        self.min_value = min_value
        # For amounts the model keeps as 0 when unused (a fixed deposit).
        self.empty_as_zero = empty_as_zero
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
            return 0 if self.empty_as_zero else None
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


class MoneyFieldsAdminMixin:
    """A ModelAdmin whose `money_fields` ({model field: label}) are typed in
    the currency's units; `money_currency(request, obj)` names the currency."""

    money_fields: dict[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Where a money field is only shown (a member who may view but not
        # change), the page shows "500.00 USD" under the field's label
        # instead of the stored minor units under "Plan deposit cents".
        for name, label in self.money_fields.items():
            setattr(self, _shown_name(name), _money_display(self, name, label))

    def money_currency(self, request: Any, obj: Any) -> str:
        return "usd"

    def get_fieldsets(self, request: Any, obj: Any = None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (
                title,
                {
                    **options,
                    "fields": [
                        _shown_name(f) if f in self.money_fields else f for f in options["fields"]
                    ],
                },
            )
            for title, options in fieldsets
        ]

    def formfield_for_dbfield(self, db_field: Any, request: Any, **kwargs: Any):
        if db_field.name in self.money_fields:
            return MoneyField(
                label=self.money_fields[db_field.name],
                required=False,
                empty_as_zero=True,
                # The form's words when it has some; else the model's, which
                # speak of minor units (the form takes units).
                help_text=(getattr(self.form._meta, "help_texts", None) or {}).get(
                    db_field.name,
                    db_field.help_text.replace(" in minor units", "").replace(" (minor units)", ""),
                ),
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_form(self, request: Any, obj: Any = None, change: bool = False, **kwargs: Any):
        form_class = super().get_form(request, obj, change, **kwargs)
        currency = self.money_currency(request, obj)
        names = [name for name in self.money_fields if name in form_class.base_fields]

        def __init__(form: Any, *args: Any, **kw: Any) -> None:
            form_class.__init__(form, *args, **kw)
            for name in names:
                form.fields[name].set_currency(currency)

        return type(form_class.__name__, (form_class,), {"__init__": __init__})


def _shown_name(field_name: str) -> str:
    # "plan_deposit_cents" -> "plan_deposit_amount"
    return field_name.removesuffix("_cents") + "_amount"


def _money_display(model_admin: Any, name: str, label: str):
    def shown(obj: Any) -> str:
        cents = getattr(obj, name)
        if cents is None:
            return "—"
        return money_text(cents, model_admin.money_currency(None, obj))

    shown.short_description = label  # type: ignore[attr-defined]
    return shown
