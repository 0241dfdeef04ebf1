"""Forms of the accounts pages (login, password reset, invitations)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm
from unfold.forms import AuthenticationForm as AdminAuthenticationForm

from tenants.tasks import password_reset_mail


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
