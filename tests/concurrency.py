"""Running calls at the same moment, for race tests (CONVENTIONS: real
threads, each with its own database connection, started together)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from django.db import connections


def run_together(calls: list[Callable[[], object]]) -> list[object]:
    """Run each call in its own thread, all released at once by a barrier;
    returns each call's result or the exception it raised, in order."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)

    def worker(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait()
            results[index] = call()
        except Exception as exc:  # noqa: BLE001 - the outcome under test
            results[index] = exc
        finally:
            # The thread's own connection goes back to the pool.
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results
