"""The checkout's `Idempotency-Key` (API.md §1): an HTTP concern, so it lives
with the API views; the service it wraps (booking_checkout) knows nothing of
it. The IdempotencyRecord's unique constraint makes two concurrent first uses
of a key resolve to one owner."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from bookings.errors import IdempotencyInProgress, IdempotencyKeyReused
from bookings.models import IdempotencyRecord
from config.db import violated_constraint
from tenants.models import Tenant

IDEMPOTENCY_CONSTRAINT = "bookings_idempotencyrecord_tenant_key_uniq"

IDEMPOTENCY_TTL = dt.timedelta(hours=24)
# A first request that has run this long died with its process: let the key be used again.
IDEMPOTENCY_ABANDONED_AFTER = dt.timedelta(minutes=5)


def request_fingerprint(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def idempotent_call(
    *, tenant: Tenant, key: str, fingerprint: str, run: Callable[[], tuple[int, dict]]
) -> tuple[int, dict]:
    """Run `run` once per (tenant, key) and body fingerprint; within 24 hours
    the same key and body get the stored answer again. A different body is
    IdempotencyKeyReused; a first request still running is
    IdempotencyInProgress. If `run` fails, the key is released so the client
    can retry. The claim commits before `run`, so a concurrent second
    request sees it."""
    record = _idempotency_claim(tenant=tenant, key=key, fingerprint=fingerprint)
    if record.state == IdempotencyRecord.State.DONE:
        return record.response_status, record.response_body
    try:
        status, body = run()
    except BaseException:
        IdempotencyRecord.objects.filter(
            pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS
        ).delete()
        raise
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.DONE, response_status=status, response_body=body
    )
    return status, body


def _idempotency_claim(*, tenant: Tenant, key: str, fingerprint: str) -> IdempotencyRecord:
    now = timezone.now()
    for _attempt in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    tenant=tenant, key=key, request_hash=fingerprint, created_at=now
                )
        except IntegrityError as exc:
            if violated_constraint(exc) != IDEMPOTENCY_CONSTRAINT:
                raise
        existing = IdempotencyRecord.objects.filter(tenant=tenant, key=key).first()
        if existing is None:
            continue  # released meanwhile: claim again
        stale = existing.created_at <= now - (
            IDEMPOTENCY_TTL
            if existing.state == IdempotencyRecord.State.DONE
            else IDEMPOTENCY_ABANDONED_AFTER
        )
        if stale:
            # Conditional delete: of several requests finding it stale, one removes it.
            IdempotencyRecord.objects.filter(
                pk=existing.pk, created_at=existing.created_at
            ).delete()
            continue
        if existing.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if existing.state == IdempotencyRecord.State.IN_PROGRESS:
            raise IdempotencyInProgress()
        return existing
    raise IdempotencyInProgress()
