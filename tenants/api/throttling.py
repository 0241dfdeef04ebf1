"""Throttles for the public API: per client IP (checked first, so even
requests with bad keys are limited) and per tenant key."""

from rest_framework.throttling import SimpleRateThrottle


class ClientIpThrottle(SimpleRateThrottle):
    scope = "client_ip"

    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class TenantKeyThrottle(SimpleRateThrottle):
    scope = "tenant_key"

    def get_cache_key(self, request, view):
        # Touching request.auth authenticates: a bad key raises its 401 here.
        return self.cache_format % {"scope": self.scope, "ident": request.auth.prefix}
