"""config.db.on_rollback (the config.db_engine backend): callbacks run when
the work done since their registration is discarded, never after a commit.
Outermost transactions here are real (transaction=True): COMMIT and ROLLBACK
as in production."""

from __future__ import annotations

import logging

import pytest
from django.db import connection, transaction

from config.db import on_rollback

pytestmark = pytest.mark.django_db(transaction=True)


class Boom(Exception):
    pass


@pytest.fixture
def ran() -> list[str]:
    return []


def test_nothing_is_registered_outside_a_transaction(ran):
    on_rollback(lambda: ran.append("autocommit"))
    with pytest.raises(Boom), transaction.atomic():
        raise Boom

    assert ran == []


def test_a_commit_forgets_and_a_rollback_runs_each_callback_once(ran):
    with transaction.atomic():
        on_rollback(lambda: ran.append("committed"))
    with pytest.raises(Boom), transaction.atomic():
        on_rollback(lambda: ran.append("first"))
        on_rollback(lambda: ran.append("second"))
        raise Boom
    with pytest.raises(Boom), transaction.atomic():
        raise Boom

    assert ran == ["first", "second"]
    assert connection.run_on_rollback == []


def test_a_savepoint_rollback_runs_only_what_was_registered_inside_it(ran):
    with transaction.atomic():
        on_rollback(lambda: ran.append("outer"))
        with pytest.raises(Boom), transaction.atomic():
            on_rollback(lambda: ran.append("inner"))
            raise Boom
        assert ran == ["inner"]
        with transaction.atomic():
            on_rollback(lambda: ran.append("released savepoint"))

    # The outer transaction committed, with the released savepoint's work.
    assert ran == ["inner"]


def test_a_rollback_of_the_outer_transaction_runs_released_savepoints_callbacks(ran):
    with pytest.raises(Boom), transaction.atomic():
        with transaction.atomic():
            on_rollback(lambda: ran.append("released savepoint"))
        raise Boom

    assert ran == ["released savepoint"]


def test_a_failing_callback_is_logged_and_the_others_still_run(ran, caplog):
    def broken() -> None:
        raise OSError("storage unreachable")

    with caplog.at_level(logging.ERROR, logger="altar.db"):
        # The exception that caused the rollback is the one that propagates.
        with pytest.raises(Boom), transaction.atomic():
            on_rollback(broken)
            on_rollback(lambda: ran.append("after the broken one"))
            raise Boom

    assert ran == ["after the broken one"]
    assert [(r.name, r.exc_info[0]) for r in caplog.records] == [("altar.db", OSError)]


def test_a_connection_lost_inside_a_transaction_runs_the_callbacks(ran):
    with transaction.atomic():
        on_rollback(lambda: ran.append("lost"))
        # What Django does with a broken connection; the server rolls back.
        connection.close()
        assert ran == ["lost"]

    assert ran == ["lost"]
