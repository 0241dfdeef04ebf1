"""The audit log: who changed what, when, from what to what.

The actor is set once, at the entry points (the public API, the admin, the
Stripe webhook processing, management commands, background tasks), with
`actor_context`; services deep below call `audit_record` without passing it
around. A contextvar (not a thread-local) so it follows the code into
whatever the entry point calls, and nested entry points (a command replaying
Stripe events) name the innermost actor.

`audit_record` inserts in the caller's transaction: a change that rolls back
leaves no entry, a committed one cannot lose its entry. Couples' personal data
never reaches the log: for bookings, the name, e-mail, phone and notes are
recorded only as set/cleared, and the object is named by its date and id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Model
from django.db.models.fields.files import FieldFile
from django_guid import get_guid

from tenants.models import AuditEntry, Tenant

SET = "<set>"

# Fields whose values are personal data of couples: recorded as "" / "<set>".
REDACTED_FIELDS: dict[str, frozenset[str]] = {
    "bookings.booking": frozenset({"couple_name", "email", "phone", "notes"}),
}


@dataclass(frozen=True)
class Actor:
    kind: str
    label: str = ""
    user: Any = None
    request_id: str = ""


SYSTEM = Actor(kind=AuditEntry.ActorKind.SYSTEM)
_actor: ContextVar[Actor] = ContextVar("altar_audit_actor", default=SYSTEM)


@contextmanager
def actor_context(
    kind: str, label: str = "", user: Any = None, request_id: str = ""
) -> Iterator[Actor]:
    """Changes recorded inside are attributed to this actor."""
    if kind not in AuditEntry.ActorKind.values:
        raise ValueError(f"unknown actor kind {kind!r}")
    actor = Actor(kind=kind, label=label[:200], user=user, request_id=request_id[:64])
    token = _actor.set(actor)
    try:
        yield actor
    finally:
        _actor.reset(token)


def current_actor() -> Actor:
    return _actor.get()


def current_request_id() -> str:
    """django_guid's id of the current request ("" outside a request)."""
    return get_guid() or ""


def jsonable(value: Any) -> Any:
    """A field value as JSON (the `changes` column)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, FieldFile):
        return value.name or ""
    if isinstance(value, Model):
        return jsonable(value.pk)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, Iterable):
        return [jsonable(v) for v in value]
    return str(value)


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [before, after]} for the fields whose value differs. A field
    missing on one side counts as None there (created / deleted)."""
    changes = {}
    for name in [*before, *(name for name in after if name not in before)]:
        old, new = jsonable(before.get(name)), jsonable(after.get(name))
        if old != new:
            changes[name] = [old, new]
    return changes


def snapshot(obj: Model, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of `fields` (attribute names) of `obj`."""
    return {name: jsonable(getattr(obj, name)) for name in fields}


def object_type_of(obj: Model) -> str:
    return obj._meta.label_lower


def object_repr_of(obj: Model) -> str:
    # Booking.__str__ names the couple: name a booking by its date and id.
    if object_type_of(obj) == "bookings.booking":
        return f"{obj.event_date} · booking {obj.pk}"
    return str(obj)[:200]


def _redacted(object_type: str, changes: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    private = REDACTED_FIELDS.get(object_type, frozenset())
    redacted = {}
    for name, pair in changes.items():
        if name in private:
            pair = [SET if value else "" for value in pair]
            if pair[0] == pair[1]:  # e.g. None -> "": nothing to say
                continue
        redacted[name] = list(pair)
    return redacted


def audit_entry(
    *,
    tenant: Tenant | None,
    action: str,
    obj: Model | None = None,
    changes: Mapping[str, Any] | None = None,
    object_type: str = "",
    object_id: str = "",
    object_repr: str = "",
) -> AuditEntry:
    """An unsaved entry for the current actor (see audit_record)."""
    if obj is not None:
        object_type = object_type or object_type_of(obj)
        object_id = object_id or str(obj.pk)
        object_repr = object_repr or object_repr_of(obj)
    actor = current_actor()
    return AuditEntry(
        tenant=tenant,
        actor_kind=actor.kind,
        actor_label=actor.label,
        # By id: the admin's request.user is a lazy wrapper.
        actor_user_id=getattr(actor.user, "pk", None),
        request_id=actor.request_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr[:200],
        changes=_redacted(object_type, jsonable(changes or {})),
    )


def audit_record(
    *,
    tenant: Tenant | None,
    action: str,
    obj: Model | None = None,
    changes: Mapping[str, Any] | None = None,
    **names: str,
) -> AuditEntry:
    """Record one change, in the caller's transaction (call it inside the
    service's atomic block, after the write succeeded)."""
    entry = audit_entry(tenant=tenant, action=action, obj=obj, changes=changes, **names)
    entry.save(force_insert=True)
    return entry


def audit_record_many(entries: list[AuditEntry]) -> list[AuditEntry]:
    """Record several entries built with audit_entry, in one INSERT."""
    return AuditEntry.objects.bulk_create(entries) if entries else []
