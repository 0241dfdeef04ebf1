"""The couple's inputs: the same limits as the API's checkout body."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.models import SLUG_VALIDATOR

MAX_ADD_ONS = 50


class BookingForm(forms.Form):
    package = forms.CharField(
        max_length=50,
        validators=[SLUG_VALIDATOR],
        error_messages={"required": _("Choose a package.")},
    )
    event_date = forms.DateField(
        input_formats=["%Y-%m-%d"],
        error_messages={
            "required": _("Pick a date for your wedding."),
            "invalid": _("Enter the date as YYYY-MM-DD, or pick it on the calendar."),
        },
    )
    couple_name = forms.CharField(
        max_length=200, error_messages={"required": _("Tell us your names.")}
    )
    email = forms.EmailField(
        max_length=254,
        error_messages={
            "required": _("We need your e-mail address to send your confirmation."),
            "invalid": _("Enter a valid e-mail address, like ada@example.com."),
        },
    )
    phone = forms.CharField(max_length=40, required=False)
    notes = forms.CharField(max_length=2000, required=False)
    # The box the couple ticks, and the version of the terms the page showed
    # them (a version published meanwhile is refused as `outdated`).
    accept_terms = forms.BooleanField(required=False)
    terms_version = forms.IntegerField(required=False, min_value=1, max_value=2**31 - 1)

    def accepted_terms_version(self) -> int | None:
        if not self.cleaned_data.get("accept_terms"):
            return None
        return self.cleaned_data.get("terms_version")

    def answers(self, data, questions) -> dict[str, str]:
        """The booking questions' inputs (`answer_<key>`), as typed; the
        service checks them against the questions."""
        return {q.key: data.get(f"answer_{q.key}", "")[:2000] for q in questions}

    def add_on_slugs(self, data) -> list[str]:
        """The add-ons ticked under the chosen package (each package's boxes
        carry its own name, so the form works without JavaScript)."""
        package = self.cleaned_data.get("package", "")
        slugs = [s for s in data.getlist(f"add_ons_{package}") if s][:MAX_ADD_ONS]
        return list(dict.fromkeys(slugs))


class LinkRequestForm(forms.Form):
    email = forms.EmailField(
        max_length=254,
        error_messages={
            "required": _("Enter the e-mail address you booked with."),
            "invalid": _("Enter a valid e-mail address, like ada@example.com."),
        },
    )
