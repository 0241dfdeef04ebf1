"""`manage.py db_status`: PostgreSQL connections in use against the budget.

Lives in `tenants` because platform-wide ops commands sit with the command
base class; it reads only PostgreSQL's own statistics.
"""

from __future__ import annotations

from typing import Any

from config.db import CONNECTION_WARNING_RATIO, connection_budget
from tenants.commands import AltarCommand


class Command(AltarCommand):
    help = (
        "Show PostgreSQL connections in use against max_connections, this process's pool "
        "size and how many app processes at full pool fit; warns (exit code 1) past "
        f"{CONNECTION_WARNING_RATIO:.0%} of the usable connections."
    )
    json_option = True

    def handle(self, *args: Any, **options: Any) -> None:
        budget = connection_budget()
        if options["json"]:
            self.print_json(budget.as_dict())
        else:
            self.stdout.write(
                f"connections in use: {budget.in_use} of {budget.usable} usable "
                f"(max_connections {budget.max_connections}, {budget.reserved} reserved) "
                f"= {budget.ratio:.0%}; {budget.in_use_here} to this database\n"
                f"pool per process: max {budget.pool_max_per_process}; "
                f"{budget.processes_that_fit()} processes at full pool fit"
            )
        if budget.warning:
            self.stderr.write(
                f"WARNING: {budget.ratio:.0%} of usable connections in use "
                f"(threshold {CONNECTION_WARNING_RATIO:.0%}); shrink pools or add PgBouncer."
            )
            raise SystemExit(1)
