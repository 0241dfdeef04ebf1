"""A loopback stand-in for Stripe's servers.

Altar talks to Stripe through the official ``stripe`` library and dj-stripe.
Stripe cannot be reached from development machines or CI, so this module plays
Stripe's part over HTTP on 127.0.0.1: it is the only fake in the system. The
platform code under test is the real code - the real client library encodes
real requests, the real webhook view verifies real signatures - and only the
far end of the wire is simulated.

What it speaks (the subset of https://docs.stripe.com/api the platform uses):

* ``POST /v1/checkout/sessions``, ``GET /v1/checkout/sessions/{id}``,
  ``GET /v1/checkout/sessions/{id}/line_items``,
  ``POST /v1/checkout/sessions/{id}/expire``
* ``POST /v1/refunds``, ``GET /v1/refunds`` (``payment_intent``/``charge``,
  paginated), ``GET /v1/refunds/{id}``
* ``POST /v1/customers``, ``GET /v1/customers/{id}``
* ``POST /v1/accounts``, ``GET /v1/accounts/{id}``, ``GET /v1/account``,
  ``POST /v1/account_links`` (Connect onboarding)
* ``GET`` for the objects dj-stripe re-retrieves while it processes a webhook:
  ``/v1/events``, ``/v1/payment_intents``, ``/v1/charges``,
  ``/v1/balance_transactions``, ``/v1/transfers``, ``/v1/disputes`` (each ``/{id}``)
* a hosted checkout page ``/pay/{id}`` (Pay / Cancel buttons) and a hosted
  Connect onboarding page ``/connect/onboard/{token}``

Requests are form-encoded the way Stripe's libraries encode them
(``a[b][0][c]=v``); answers are Stripe-shaped JSON objects and Stripe-shaped
error bodies with Stripe's status codes. Events are signed exactly like
Stripe's (``Stripe-Signature: t=...,v1=...``) so ``stripe.Webhook`` verifies
them.

In-process use (tests)::

    standin = StripeStandin(api_key=DEFAULT_API_KEY)
    standin.configure_webhooks(url=..., secret="whsec_...")
    base = standin.start()          # "http://127.0.0.1:PORT"
    ...
    standin.stop()

Standalone use (local development)::

    python -m tools.stripe_standin --port 12111 --api-key sk_test_... \\
        --webhook-url http://127.0.0.1:8000/stripe/webhook/ --webhook-secret whsec_...

Test helpers (what happens at Stripe outside the platform's API calls):
``pay`` / ``async_succeed`` / ``async_fail`` / ``cancel`` (redirect only) /
``expire`` / ``expire_due`` (checkout), ``refund_in_dashboard``,
``refunds_pending`` / ``settle_refund`` / ``fail_refund`` / ``refunds_of``
(refunds), ``open_dispute`` / ``close_dispute``, ``create_account`` /
``update_account`` / ``deauthorize`` (Connect), ``fail_next`` / ``hang_next``
(faults), ``build_event`` / ``deliver`` / ``flush_events`` (webhooks), and
``requests`` / ``exchanges`` / ``events`` / ``deliveries`` / ``get`` to look.

Layout, like Stripe's API: :mod:`.checkout_sessions`, :mod:`.payment_intents`
(charges, balance, transfers), :mod:`.refunds`, :mod:`.disputes`,
:mod:`.accounts`, :mod:`.customers`, :mod:`.events` (webhooks),
:mod:`.hosted_pages`, :mod:`.idempotency` (request serving, faults),
:mod:`.core` (store, dispatch), :mod:`.server` (HTTP), :mod:`.cli`.

Pure standard library on purpose: it must start before (and independently of)
Django, and it must never share state with the platform it stands in for.
"""

from ._common import (
    API_VERSION,
    DEFAULT_API_KEY,
    Delivery,
    Exchange,
    RecordedRequest,
    StandinError,
    decode_form,
    sign_payload,
)
from .cli import main
from .core import StripeStandin

__all__ = [
    "API_VERSION",
    "DEFAULT_API_KEY",
    "Delivery",
    "Exchange",
    "RecordedRequest",
    "StandinError",
    "StripeStandin",
    "decode_form",
    "main",
    "sign_payload",
]
