"""Liveness and readiness probes (no tenant key, JSON only)."""

from __future__ import annotations

import hmac
import logging

import psycopg
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from config.db import connection_budget
from config.errors import error_json_response

logger = logging.getLogger("altar.health")


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up. Touches nothing else, so it is the benchmark baseline."""
    return JsonResponse({"status": "ok"})


class BenchBareView(APIView):
    """The benchmark's second baseline (BENCH_BARE_VIEW): DRF's request and
    response cycle with nothing behind it, so the table can tell what the
    framework costs from what an endpoint adds."""

    authentication_classes: list = []
    permission_classes: list = []
    throttle_classes: list = []

    def get(self, request) -> Response:
        return Response({"status": "ok"})


# A probe must answer within the load balancer's timeout: it connects on
# its own with a short timeout instead of waiting DB_POOL_TIMEOUT for the pool.
PROBE_TIMEOUT_SECONDS = 2


def _database() -> str:
    params = connections[DEFAULT_DB_ALIAS].get_connection_params()
    params.pop("cursor_factory", None)
    try:
        with psycopg.connect(**params, connect_timeout=PROBE_TIMEOUT_SECONDS) as probe:
            probe.execute("SELECT 1")
    except psycopg.Error:
        return "unavailable"
    return "ok"


def _migrations() -> str:
    """ "pending" while the code expects migrations the database lacks (a
    rolling deploy before `migrate` ran): not ready to take traffic."""
    try:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        return "unavailable"
    return "pending" if plan else "ok"


def _redis() -> str:
    # django-redis is configured to swallow errors (the API degrades to the
    # database); readiness asks the client directly so an outage shows here.
    try:
        from django_redis import get_redis_connection

        # A write, not a PING: a Redis refusing writes (full disk, MISCONF)
        # answers PING but cannot hold the cache or the throttle counters.
        get_redis_connection("default").set("altar:readyz", "1", ex=60)
    except Exception as exc:  # noqa: BLE001 - any client/network error means "unavailable"
        logger.warning("readiness: redis unavailable: %s", type(exc).__name__)
        return "unavailable"
    return "ok"


def presents_ops_token(request: HttpRequest) -> bool:
    """`Authorization: Bearer <READYZ_TOKEN>`, compared in constant time.
    Without a configured token nobody gets the details."""
    token = settings.READYZ_TOKEN
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if not token or scheme.lower() != "bearer" or not presented:
        return False
    return hmac.compare_digest(presented.strip().encode(), token.encode())


def readyz(request: HttpRequest) -> JsonResponse:
    """Status code and checks for everyone (load balancers); the connection
    figures only for ops (they tell an attacker how close the database is
    to its limit)."""
    checks = {"database": _database()}
    details = {}
    if checks["database"] == "ok":
        checks["migrations"] = _migrations()
        if presents_ops_token(request):
            # Informational: a warning here does not take the process out
            # of rotation (that would only move its load onto the others).
            details["connections"] = connection_budget().as_dict()
    if settings.REDIS_URL:
        checks["redis"] = _redis()
    ready = all(value == "ok" for value in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    if details:
        body["details"] = details
    response = JsonResponse(body, status=200 if ready else 503)
    # The body depends on the caller's token: never from a shared cache.
    response["Cache-Control"] = "no-store"
    return response


@csrf_exempt  # a JSON 404 for every method: no CSRF 403 page first
def api_not_found(request: HttpRequest) -> JsonResponse:
    """Unknown routes under /api/ and /stripe/, in every mode (urls.py)."""
    return error_json_response(404, "not_found", "Not found.")
