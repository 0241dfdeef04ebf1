"""Issuing an invitation's token: shared by the outbox task that mails it
(tenants.tasks) and the services, so neither imports the other both ways."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from tenants.keys import hash_key
from tenants.models import TenantMembership
from tenants.scoping import scopes_disabled


@dataclass(frozen=True)
class IssuedInvitation:
    membership: TenantMembership
    token: str  # only in the e-mail being sent; the row keeps its hash


@transaction.atomic
def invitation_token_issue(
    *, membership_id: int, now: datetime | None = None
) -> IssuedInvitation | None:
    """A new single-use token for a pending invitation, valid INVITATION_TTL
    from now; any earlier token stops working. None when the invitation is
    gone or accepted. Called by the outbox task right before it mails the
    link, so the plaintext never sits in the task table."""
    now = now or timezone.now()
    with scopes_disabled():
        membership = (
            TenantMembership.objects.select_for_update(of=("self",))
            .filter(pk=membership_id, status=TenantMembership.Status.PENDING)
            .first()
        )
        if membership is None:
            return None
        token = secrets.token_urlsafe(32)
        membership.invitation_token_hash = hash_key(token)
        membership.invitation_sent_at = now
        membership.invitation_expires_at = now + settings.INVITATION_TTL
        membership.save(
            update_fields=["invitation_token_hash", "invitation_sent_at", "invitation_expires_at"]
        )
    return IssuedInvitation(membership=membership, token=token)
