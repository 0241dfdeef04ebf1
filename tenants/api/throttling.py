"""Throttles for the public API, checked in this order:
- per client address, over every key (first, so even requests with bad
  keys are limited);
- per (tenant key, client address): each couple's browser has its own
  budget, so one client spending its own cannot refuse the others;
- per tenant key in total: a circuit breaker far above any one client's
  rate (THROTTLE_RATE_PER_KEY), for a key abused from many addresses.
A client refused by its own limit stops there and does not count towards
the key's ceiling.

Both count requests in fixed windows with one atomic cache increment per
request. DRF's SimpleRateThrottle instead keeps every request's timestamp
in one cache entry that each request reads and rewrites whole: O(rate) work
per request, and two processes reading the same list at once both write it
back, so the shared limit undercounts. With Redis (REDIS_URL) the counter is
an INCR shared by every process and host; if Redis is down, django-redis
answers None and the request is allowed (throttling degrades, serving
does not).
"""

from __future__ import annotations

import ipaddress

from rest_framework.throttling import BaseThrottle, SimpleRateThrottle


def client_ident(request) -> str:
    """The address a limit counts by: IPv6 clients per /64 (one subscriber
    usually has a whole /64 to rotate through), IPv4 as is. A value that is
    not an address (a misconfigured proxy) is counted as it is."""
    address = client_address(request)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:  # ::ffff:a.b.c.d is an IPv4 client
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


class FixedWindowThrottle(SimpleRateThrottle):
    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_ends_at = (window + 1) * self.duration
        counter = f"{self.key}:{window}"
        # add() is a no-op when the window's counter exists; the extra
        # second outlives the window's end, never a request inside it.
        self.cache.add(counter, 0, self.duration + 1)
        try:
            count = self.cache.incr(counter)
        except ValueError:  # evicted between add() and incr()
            self.cache.set(counter, 1, self.duration + 1)
            count = 1
        return count is None or count <= self.num_requests

    def wait(self) -> float:
        return max(1.0, self.window_ends_at - self.now)


class ClientIpThrottle(FixedWindowThrottle):
    scope = "client_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.gate_ident(request, "")}

    def gate_ident(self, request, prefix: str) -> str:
        """The counter's ident (also for tenants.api.gate, given the key's prefix)."""
        return client_ident(request)


class TenantKeyClientThrottle(FixedWindowThrottle):
    scope = "tenant_key_client"

    def get_cache_key(self, request, view):
        # Touching request.auth authenticates: a bad key raises its 401 here.
        ident = self.gate_ident(request, request.auth.prefix)
        return self.cache_format % {"scope": self.scope, "ident": ident}

    def gate_ident(self, request, prefix: str) -> str:
        return f"{prefix}:{client_ident(request)}"


class TenantKeyThrottle(FixedWindowThrottle):
    scope = "tenant_key"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}

    def gate_ident(self, request, prefix: str) -> str:
        return prefix


def client_address(request) -> str:
    """The client's IP address by the per-IP throttle's rule (DRF's
    `get_ident` with NUM_PROXIES: the socket's address, or the entry the
    trusted proxies appended to X-Forwarded-For), and only ever a valid
    address: a malformed forwarded value falls back to the socket's."""
    for candidate in (BaseThrottle().get_ident(request), request.META.get("REMOTE_ADDR")):
        try:
            return str(ipaddress.ip_address((candidate or "").strip()))
        except ValueError:
            continue
    return "0.0.0.0"  # noqa: S104 - "unknown" in dj-stripe's remote_ip column
