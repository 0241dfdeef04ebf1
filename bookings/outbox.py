"""Queuing the outbox's tasks by name.

The code that decides a change (bookings.services, bookings.balances)
queues the work that follows it, an e-mail, a refund, a charge, inside the
transaction of the change (django-tasks' database backend inserts the row
there). The task bodies (bookings.tasks) call back into that same code: a
balance charge records Stripe's answer through bookings.balances, which
queues the refund of a surplus. So the deciding code names the task instead
of importing it, and the imports run one way: bookings.tasks imports what it
runs; what it runs imports only this module. BookingsConfig.ready() imports
bookings.tasks, so every task is known here before anything is queued.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django_tasks import task as django_task
from django_tasks.base import Task

_TASKS: dict[str, Task] = {}


def task(**options: Any) -> Callable[[Callable], Task]:
    """django_tasks.task, and `enqueue` knows the task by its function's name."""

    def declare(function: Callable) -> Task:
        declared = django_task(**options)(function)
        _TASKS[declared.name] = declared
        return declared

    return declare


def enqueue(name: str, **kwargs: Any) -> None:
    """Queue the task `name` (a function of bookings.tasks) in the current
    transaction: the worker runs it after commit, never for a rollback."""
    _TASKS[name].enqueue(**kwargs)
