"""Fixed-window counters in the cache for the accounts pages (password
reset), the same scheme as the API throttles (tenants.api.throttling): one
atomic increment per attempt, shared across processes with Redis; a cache
outage allows the attempt (limiting degrades, serving does not)."""

from __future__ import annotations

import hashlib
import time

from django.core.cache import cache
from django.http import HttpRequest
from rest_framework.throttling import BaseThrottle

# Tests replace this to pass time explicitly.
clock = time.time


def client_ident(request: HttpRequest) -> str:
    """The client's address, trusting exactly NUM_PROXIES proxies' entries in
    X-Forwarded-For (DRF's rule, as the API's per-IP throttle)."""
    return BaseThrottle().get_ident(request)


def _digest(value: str) -> str:
    # Keys never hold an address or e-mail in clear, and stay short.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def hit(*, scope: str, ident: str, limit: int, period: int) -> bool:
    """Count one attempt for (scope, ident); False once more than `limit`
    attempts fell in the current window of `period` seconds."""
    window = int(clock() // period)
    key = f"altar:rl:{scope}:{_digest(ident)}:{window}"
    cache.add(key, 0, period + 1)
    try:
        count = cache.incr(key)
    except ValueError:  # evicted between add() and incr()
        cache.set(key, 1, period + 1)
        count = 1
    return count is None or count <= limit
