"""`manage.py charge_balances`: claim the balances due today (each tenant's
time zone) and queue their off-session charges; queue due reminders."""

from __future__ import annotations

from typing import Any

from bookings.balances import balances_claim, reminders_queue
from tenants.commands import AltarCommand
from tenants.scoping import scopes_disabled


class Command(AltarCommand):
    help = (
        "Claim every balance due today (in each business's time zone) and queue its "
        "off-session charge on the outbox (`db_worker` sends it), then queue the balance "
        "reminders that are due. Each balance is claimed exactly once however many copies "
        "run at once or again: run it from cron (e.g. hourly)."
    )
    json_option = True

    def handle(self, *args: Any, **options: Any) -> None:
        # Across tenants by design: an ops sweep, not a tenant's action.
        with scopes_disabled():
            claimed = balances_claim()
            reminders = reminders_queue()
        if options["json"]:
            self.print_json({"claimed": claimed, "reminders": reminders})
        else:
            self.stdout.write(f"Queued {claimed} balance charge(s) and {reminders} reminder(s).")
