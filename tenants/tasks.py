"""Durable side effects of account changes: the outbox's tasks for staff
accounts (invitations, password resets), as bookings/tasks.py does for
bookings.

Enqueued inside the transaction of the change (django-tasks' database
backend), run by `manage.py db_worker` after commit. Neither task carries a
secret in its arguments: each issues its token when it runs, just before
mailing it, so no link ever sits in the task table.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.core.mail import EmailMessage
from django.template.loader import render_to_string
from django.utils import formats, timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_tasks import task

from tenants.audit import actor_context
from tenants.invitations import invitation_token_issue


def _base_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/")


def _send(*, subject: str, template: str, context: dict, to: str) -> None:
    EmailMessage(
        subject=subject,
        body=render_to_string(template, context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[to],
    ).send()


def _in_zone(moment, zone_name: str) -> str:
    with timezone.override(zone_name):
        local = formats.date_format(timezone.localtime(moment), "DATETIME_FORMAT")
    return f"{local} ({zone_name})"


@task()
def staff_invitation_mail(*, membership_id: int) -> str:
    """E-mail the invitee a fresh single-use link (any earlier one stops
    working). Nothing to do once the invitation is accepted or revoked."""
    with actor_context("system", "task:staff_invitation_mail"):
        issued = invitation_token_issue(membership_id=membership_id)
    if issued is None:
        return "not pending"
    membership = issued.membership
    _send(
        subject=f"You're invited to join {membership.tenant.name} on Altar",
        template="emails/staff_invitation.txt",
        context={
            "tenant": membership.tenant,
            "role": membership.get_role_display().lower(),
            "accept_url": f"{_base_url()}/accounts/invitations/{issued.token}/",
            # In the business's time zone, named, in the locale's one format.
            "expires_at": _in_zone(membership.invitation_expires_at, membership.tenant.timezone),
            "login_url": f"{_base_url()}/admin/",
        },
        to=membership.user.email,
    )
    return "sent"


@task()
def password_reset_mail(*, user_ids: list[int]) -> str:
    """Mail a reset link to each of these accounts that can still use one
    (active, with a usable password). The request queued this task whether
    or not the address matched any account (user_ids may be empty), so the
    answer and the work done are the same for known and unknown addresses."""
    users = get_user_model()._default_manager.filter(pk__in=user_ids, is_active=True)
    sent = 0
    for user in users:
        if not user.has_usable_password() or not user.email:
            continue
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        token = default_token_generator.make_token(user)
        _send(
            subject="Reset your Altar password",
            template="emails/password_reset.txt",
            context={
                "reset_url": f"{_base_url()}/accounts/reset/{uid}/{token}/",
                "login": user.get_username(),
                "valid_hours": settings.PASSWORD_RESET_TIMEOUT // 3600,
            },
            to=user.email,
        )
        sent += 1
    return f"sent {sent}"
