"""`manage.py expire_holds`: mark lapsed holds `expired` (bookkeeping)."""

from __future__ import annotations

from typing import Any

from bookings.services import bookings_expire_lapsed
from tenants.commands import AltarCommand
from tenants.scoping import scopes_disabled


class Command(AltarCommand):
    help = (
        "Mark every hold whose time has run out as expired, across all tenants. "
        "Safe to run at any time and any number of times (e.g. every minute from cron "
        "or a systemd timer). The API already treats a lapsed hold as free without it."
    )
    json_option = True

    def handle(self, *args: Any, **options: Any) -> None:
        # Across tenants by design: an ops sweep, not a tenant's action.
        with scopes_disabled():
            expired = bookings_expire_lapsed()
        if options["json"]:
            self.print_json({"expired": expired})
        else:
            self.stdout.write(f"Expired {expired} lapsed hold(s).")
