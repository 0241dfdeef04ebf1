"""Base class of every tenant API view: key, throttles, and the tenant scope."""

from contextlib import ExitStack

from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from tenants.api import gate
from tenants.api.auth import TenantKeyAuthentication
from tenants.api.throttling import ClientIpThrottle, TenantKeyClientThrottle, TenantKeyThrottle
from tenants.audit import actor_context, current_request_id
from tenants.models import Tenant
from tenants.scoping import tenant_scope


class TenantApiView(APIView):
    """Views see `self.tenant`, and run inside that tenant's scope, so a
    forgotten filter raises or finds nothing instead of leaking rows."""

    authentication_classes = [TenantKeyAuthentication]
    # Order matters: see tenants/api/throttling.py.
    throttle_classes = [ClientIpThrottle, TenantKeyClientThrottle, TenantKeyThrottle]
    tenant: Tenant

    def perform_authentication(self, request: Request) -> None:
        # Authenticate lazily, in the key throttle, after the IP throttle has
        # counted the request: guessing keys is rate limited too.
        pass

    def check_throttles(self, request: Request) -> None:
        # DRF asks every throttle even after one refused, and the key throttle
        # authenticates: an address over its limit would still have each
        # guessed key looked up and answered 401 (wrong) or 429 (right).
        # Stop at the first refusal instead. With Redis, tenants.api.gate
        # does the same in one round trip (and authenticates from its state).
        throttles = self.get_throttles()
        if not gate.check(self, request, throttles):
            self.check_throttles_one_by_one(request, throttles)

    def check_throttles_one_by_one(self, request: Request, throttles: list) -> None:
        for throttle in throttles:
            if not throttle.allow_request(request, self):
                self.throttled(request, throttle.wait())

    def initial(self, request: Request, *args, **kwargs) -> None:
        self._scope_stack = ExitStack()
        super().initial(request, *args, **kwargs)
        self.tenant = request.auth.tenant
        self._scope_stack.enter_context(tenant_scope(self.tenant))
        # Couples are anonymous to the audit log (no name or e-mail): the
        # request id ties an entry to the request's log lines instead.
        self._scope_stack.enter_context(
            actor_context("couple", "couple (api)", request_id=current_request_id())
        )

    def finalize_response(self, request: Request, response: Response, *args, **kwargs) -> Response:
        stack = getattr(self, "_scope_stack", None)
        if stack is not None:
            stack.close()
        return super().finalize_response(request, response, *args, **kwargs)
