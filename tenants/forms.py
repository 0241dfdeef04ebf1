"""Forms of the accounts pages (login, password reset, invitations) and of the
business's settings page in the admin."""

from __future__ import annotations

import zoneinfo
from typing import Any

from babel.numbers import get_currency_name
from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from unfold.forms import AuthenticationForm as AdminAuthenticationForm
from unfold.widgets import UnfoldAdminSelectWidget

from tenants.models import Tenant
from tenants.tasks import password_reset_mail
from tenants.validators import TENANT_CURRENCIES


class _EmailLabel:
    """The login is the e-mail address (staff usernames are their e-mail)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["username"].label = "E-mail"
        self.fields["username"].widget.attrs["autocomplete"] = "email"


class EmailAuthenticationForm(_EmailLabel, AuthenticationForm):
    pass


class AdminEmailAuthenticationForm(_EmailLabel, AdminAuthenticationForm):
    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "invalid_login": "Please enter the correct e-mail and password for a staff account. "
        "Note that both fields may be case-sensitive.",
    }


class OutboxPasswordResetForm(PasswordResetForm):
    """Queues the reset mail in the outbox instead of sending it in the
    request. The task is queued for every valid request, with the matching
    accounts' ids (often none): the same work and the same answer whether
    or not the address has an account."""

    email = forms.EmailField(
        label="E-mail", max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )

    def save(self, *args: Any, **kwargs: Any) -> None:
        user_ids = [user.pk for user in self.get_users(self.cleaned_data["email"])]
        password_reset_mail.enqueue(user_ids=user_ids)


# --- the business's settings page ----------------------------------------------

# Time zones as places (IANA's Area/Location names). UTC and the old aliases
# (US/Mountain, EST5EDT, Etc/GMT+7, ...) stay valid, but are only offered to
# a business already set to one: a business is somewhere.
_ZONE_AREAS = (
    "Africa/",
    "America/",
    "Antarctica/",
    "Arctic/",
    "Asia/",
    "Atlantic/",
    "Australia/",
    "Europe/",
    "Indian/",
    "Pacific/",
)


def currency_label(code: str) -> str:
    """ "usd" -> "USD — US Dollar" (the name from CLDR, through Babel)."""
    return f"{code.upper()} — {get_currency_name(code.upper(), locale='en')}"


def zone_label(name: str) -> str:
    """ "America/Port_of_Spain" -> "America/Port of Spain"."""
    return name.replace("_", " ")


CURRENCY_CHOICES = [(code, currency_label(code)) for code in sorted(TENANT_CURRENCIES)]
TIMEZONE_CHOICES = [
    (name, zone_label(name))
    for name in sorted(
        name for name in zoneinfo.available_timezones() if name.startswith(_ZONE_AREAS)
    )
]


# A payment plan's fields, on the settings page and on each package.
PLAN_LABELS = {
    "plan_kind": "How couples pay",
    "plan_deposit_percent": "Deposit (% of the total)",
    "plan_deposit_refundable": "Deposit is refundable",
    "plan_balance_days_before": "Charge the balance (days before the wedding)",
}
PLAN_HELP_TEXTS = {
    "plan_kind": "In full when they book, or a deposit now and the balance later.",
    "plan_deposit_cents": "For a fixed deposit: the amount paid when booking.",
    "plan_deposit_percent": "For a percentage deposit: the share of the total paid when "
    "booking (1 to 99).",
    "plan_deposit_refundable": "Unticked: a cancellation keeps the deposit unless you choose "
    "to refund it.",
    "plan_balance_days_before": "The balance is charged to the couple's card this many days "
    "before the wedding.",
}

SETTINGS_LABELS = {
    "name": "Business name",
    "slug": "Booking page address",
    "active": "Account active",
    "contact_email": "Contact e-mail",
    "hold_minutes": "Hold a date while the couple pays (minutes)",
    "hold_limit_per_email": "Unpaid holds per couple",
    "hold_limit_per_address": "Unpaid holds per network address",
    "hold_limit_per_tenant": "Unpaid holds in total",
    "min_notice_days": "Minimum notice (days)",
    "max_advance_days": "Bookable up to (days ahead)",
    "success_url_template": "After paying, send couples to",
    "cancel_url_template": "If couples leave the payment page, send them to",
    "default_language": "Booking page language",
    **PLAN_LABELS,
    "cors_origins": "Your websites",
    "primary_color": "Main colour",
    "secondary_color": "Accent colour",
    "font_family": "Font",
    "logo": "Logo",
    "stripe_account_id": "Stripe account",
    "stripe_charges_enabled": "Stripe accepts payments",
    "stripe_transfers_active": "Stripe pays out to you",
    "stripe_account_checked_at": "Stripe account last checked",
    "stripe_account_deauthorized_at": "Disconnected from Altar on",
}


class TenantSettingsForm(forms.ModelForm):
    """The settings page in the owner's words. Currency and time zone are
    picked from lists; the server still checks both (the choices here and
    the model's validators), whatever the browser sends."""

    currency = forms.ChoiceField(
        label="Currency",
        choices=CURRENCY_CHOICES,
        initial=Tenant._meta.get_field("currency").default,
        widget=UnfoldAdminSelectWidget,
        help_text="What couples are charged in. Prices are typed and shown in this currency.",
    )
    timezone = forms.ChoiceField(
        label="Time zone",
        choices=TIMEZONE_CHOICES,
        initial=Tenant._meta.get_field("timezone").default,
        widget=UnfoldAdminSelectWidget,
        help_text="Where your business is: dates, times and “today” on your pages and e-mails.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A business already on UTC or an alias zone (US/Mountain) keeps it
        # offered, at the top, until it picks its place.
        current = self.initial.get("timezone") or self.fields["timezone"].initial
        if current not in dict(TIMEZONE_CHOICES):
            label = "UTC (pick the zone of your city)" if current == "UTC" else zone_label(current)
            self.fields["timezone"].choices = [(current, label), *TIMEZONE_CHOICES]

    class Meta:
        model = Tenant
        # The admin passes the fields its fieldsets show; these are all of them.
        fields = (*SETTINGS_LABELS, "currency", "timezone", "plan_deposit_cents", "commission_bps")
        labels = SETTINGS_LABELS
        help_texts = {
            "name": "As couples see it on your booking page and e-mails.",
            "slug": "The last part of your booking page's address (…/book/your-business/). "
            "Set by Altar: ask us to change it.",
            "active": "Off: your booking page, widget and API are switched off.",
            "contact_email": "Where couples can reach you; shown on their e-mails.",
            "hold_minutes": "How long a date stays held while the couple pays (30 to 1440).",
            "hold_limit_per_email": "How many unpaid holds one couple may have at once "
            "(empty: Altar's default).",
            "hold_limit_per_address": "How many unpaid holds one network address may have at "
            "once (empty: Altar's default).",
            "hold_limit_per_tenant": "How many unpaid holds your business may have at once "
            "(empty: Altar's default).",
            "min_notice_days": "The earliest date couples can book, counted from your today.",
            "max_advance_days": "The latest date couples can book, counted from your today.",
            "success_url_template": "A page on your website (optional; empty: Altar's "
            "booking status page). {BOOKING_ID} is replaced by the booking's number.",
            "cancel_url_template": "A page on your website (optional; empty: Altar's "
            "booking status page). {BOOKING_ID} is replaced by the booking's number.",
            **PLAN_HELP_TEXTS,
            "cors_origins": "Your websites that show the booking widget, e.g. "
            "https://www.example.com (separate several with commas).",
            "primary_color": "Buttons and headings on your booking page.",
            "secondary_color": "Highlights on your booking page.",
            "logo": "Shown at the top of your booking page.",
            "stripe_account_id": "Your Stripe account, connected by Altar. Payments go to it.",
            "stripe_charges_enabled": "What Stripe last told us about your account.",
            "stripe_transfers_active": "Whether Stripe can send your share of each payment "
            "to your account.",
        }
