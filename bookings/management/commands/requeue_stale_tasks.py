"""`manage.py requeue_stale_tasks`: give tasks of a dead worker back to the queue."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from tenants.commands import AltarCommand


class Command(AltarCommand):
    help = (
        "Put tasks that have been RUNNING longer than --older-than minutes (default 15) back "
        "to READY, so another worker runs them: their worker died mid-task (killed, host "
        "lost). Safe because every task is idempotent (e-mails check their sent mark, "
        "refunds carry a fixed Stripe idempotency key). Run it every few minutes from cron, "
        "next to expire_holds."
    )
    json_option = True

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", type=int, default=15, metavar="MINUTES")

    def handle(self, *args: Any, **options: Any) -> None:
        minutes = options["older_than"]
        if minutes < 1:
            raise CommandError("--older-than must be at least 1 minute.")
        cutoff = timezone.now() - dt.timedelta(minutes=minutes)
        # Our tasks take seconds (Stripe calls time out after
        # STRIPE_TIMEOUT_SECONDS), so minutes of RUNNING means a dead worker.
        requeued = DBTaskResult.objects.filter(status="RUNNING", started_at__lt=cutoff).update(
            status="READY", started_at=None
        )
        if options["json"]:
            self.print_json({"requeued": requeued})
        else:
            self.stdout.write(f"Requeued {requeued} stale task(s).")
