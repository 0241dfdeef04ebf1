"""Database helpers that belong to no app."""

from django.db import IntegrityError


def violated_constraint(exc: IntegrityError) -> str | None:
    """The name of the constraint an IntegrityError reports (psycopg 3), so
    services map races decided by the database to domain errors by name."""
    diag = getattr(exc.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None)
