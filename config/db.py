"""Database helpers that belong to no app."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction

# Past this share of max_connections, ops are warned (db_status, /readyz).
CONNECTION_WARNING_RATIO = 0.8


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError reports (psycopg 3), so
    services map races decided by the database to domain errors by name."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)


def on_rollback(func: Callable[[], None], using: str | None = None) -> None:
    """Run `func` if the work done from now on in the current transaction is
    discarded (rollback, rollback to an enclosing savepoint, lost
    connection); forget it on commit. Outside an atomic block: nothing to do,
    the work is already committed. See config/db_engine/base.py."""
    wrapper = transaction.get_connection(using)
    register = getattr(wrapper, "on_rollback", None)
    if register is None:
        raise ImproperlyConfigured("DATABASES ENGINE must be config.db_engine (on_rollback).")
    register(func)


@dataclass(frozen=True)
class ConnectionBudget:
    in_use: int  # server-wide client connections, every database
    in_use_here: int  # connections to this platform's database
    max_connections: int
    reserved: int  # superuser_reserved_connections: not for the app
    pool_max_per_process: int

    @property
    def usable(self) -> int:
        return self.max_connections - self.reserved

    @property
    def ratio(self) -> float:
        return self.in_use / self.usable

    @property
    def warning(self) -> bool:
        return self.ratio >= CONNECTION_WARNING_RATIO

    def processes_that_fit(self) -> int:
        """How many app processes at full pool fit in what is usable."""
        return self.usable // self.pool_max_per_process

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "usable": self.usable,
            "ratio": round(self.ratio, 3),
            "warning": self.warning,
            "processes_that_fit": self.processes_that_fit(),
        }


def connection_budget() -> ConnectionBudget:
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT
              (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'),
              (SELECT count(*) FROM pg_stat_activity
                WHERE backend_type = 'client backend' AND datname = current_database()),
              current_setting('max_connections')::int,
              current_setting('superuser_reserved_connections')::int
            """
        )
        in_use, in_use_here, max_connections, reserved = cursor.fetchone()
    pool = settings.DATABASES["default"].get("OPTIONS", {}).get("pool") or {}
    return ConnectionBudget(
        in_use=in_use,
        in_use_here=in_use_here,
        max_connections=max_connections,
        reserved=reserved,
        pool_max_per_process=int(pool.get("max_size", 1)) if isinstance(pool, dict) else 1,
    )
