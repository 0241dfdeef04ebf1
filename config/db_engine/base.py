"""Django's PostgreSQL backend plus one hook: `on_rollback` (config.db).

Django runs `on_commit` callbacks after a commit and silently drops those of
a rolled-back transaction or savepoint, but offers nothing that runs *because*
of the rollback. Files need that: a photo or logo written to storage inside a
transaction that then rolls back (a later refusal in the same admin save, a
database error, a crash of the request) would stay in the bucket for ever
with no row pointing at it. config.storage registers the deletion of every
file it writes inside a transaction here.

Semantics mirror on_commit's: a callback registered inside an atomic block
runs when the work done since then is discarded — a rollback of the
transaction, a rollback to a savepoint that was active at registration, or
the loss of the connection (the server rolls back). A commit forgets it.
Outside an atomic block nothing is registered: the write is already final.
Callbacks are "robust": one that fails is logged and the others still run,
and the exception that caused the rollback is never masked.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable

from django.conf import settings
from django.db.backends.postgresql import base
from psycopg import pq

logger = logging.getLogger("altar.db")


class DatabaseWrapper(base.DatabaseWrapper):
    def _configure_connection(self, connection):
        if settings.DB_TRACE_DIR and not getattr(connection, "_altar_traced", False):
            _trace(connection)
        return super()._configure_connection(connection)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # (savepoint ids active at registration, callback), in order.
        self.run_on_rollback: list[tuple[set[str], Callable[[], None]]] = []

    def on_rollback(self, func: Callable[[], None]) -> None:
        if not callable(func):
            raise TypeError("on_rollback()'s callback must be a callable.")
        if self.in_atomic_block:
            self.run_on_rollback.append((set(self.savepoint_ids), func))

    def commit(self) -> None:
        super().commit()
        self.run_on_rollback = []

    def rollback(self) -> None:
        super().rollback()
        self._run_discarded(lambda sids: True)

    def savepoint_rollback(self, sid: str) -> None:
        super().savepoint_rollback(sid)
        self._run_discarded(lambda sids: sid in sids)

    def close(self) -> None:
        # Closed inside a transaction (a broken connection, or a failed
        # rollback): the server rolls it back. Outside one the list is empty.
        super().close()
        self._run_discarded(lambda sids: True)

    def _run_discarded(self, discarded: Callable[[set[str]], bool]) -> None:
        kept, due = [], []
        for entry in self.run_on_rollback:
            (due if discarded(entry[0]) else kept).append(entry)
        self.run_on_rollback = kept
        for _, func in due:
            try:
                func()
            except Exception:  # like on_commit(robust=True): log, go on
                logger.exception("on_rollback callback %r failed", func)


def _trace(connection) -> None:
    """Benchmark only (DB_TRACE_DIR): libpq writes every protocol message
    of this connection to its own file; tools/bench.py counts round trips
    in them. The file stays open as long as the connection."""
    path = os.path.join(settings.DB_TRACE_DIR, f"{os.getpid()}-{uuid.uuid4().hex}.trace")
    trace_file = open(path, "ab", buffering=0)  # lives as long as the connection
    connection.pgconn.trace(trace_file.fileno())
    connection.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)
    connection._altar_traced = trace_file
