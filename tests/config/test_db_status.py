"""`db_status`: the connection budget ops size pools with."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection

pytestmark = pytest.mark.django_db


def server_setting(name: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT current_setting('{name}')::int")
        return cursor.fetchone()[0]


def test_json_reports_the_budget():
    out = StringIO()

    call_command("db_status", "--json", stdout=out)

    report = json.loads(out.getvalue())
    max_connections = server_setting("max_connections")
    reserved = server_setting("superuser_reserved_connections")
    assert report["max_connections"] == max_connections
    assert report["usable"] == max_connections - reserved
    assert report["pool_max_per_process"] == 20
    assert report["processes_that_fit"] == (max_connections - reserved) // 20
    assert report["warning"] is (report["in_use"] / report["usable"] >= 0.8)


def test_warns_and_exits_non_zero_past_the_threshold(monkeypatch):
    import config.db

    monkeypatch.setattr(config.db, "CONNECTION_WARNING_RATIO", 0.0)
    out, err = StringIO(), StringIO()

    with pytest.raises(SystemExit) as exited:
        call_command("db_status", stdout=out, stderr=err)

    assert exited.value.code == 1
    assert err.getvalue().startswith("WARNING: ")
    assert "connections in use:" in out.getvalue()
