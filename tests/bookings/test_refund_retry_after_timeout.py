"""refund_send treats a timeout like a 5xx answer: the next run lists the
payment's refunds and, finding none, moves to a NEW idempotency key. But a
timed-out request may still be running at Stripe (hang_next: "a slow Stripe
still does the work"), so the listing proves nothing and the new key makes
a second refund when the first one lands. Stripe's own rule: after a
connection error or timeout, retry with the SAME key (Stripe answers 409
while the first is in flight, then replays its result); only an actual
5xx answer is stored and replayed, and only then is the lookup-then-new-key
step needed (the first request has finished by then)."""

from __future__ import annotations

import pytest

from bookings import refunds
from bookings.models import BookingRefund
from bookings.services import booking_cancel
from tenants.scoping import tenant_scope

pytestmark = pytest.mark.django_db


def test_a_timed_out_refund_is_retried_under_the_same_key(
    tenant, paid_booking, stripe_standin, settings
):
    settings.STRIPE_TIMEOUT_SECONDS = 0.5
    with tenant_scope(tenant):
        booking_cancel(tenant=tenant, booking_id=paid_booking.pk, refund_cents=None)
        refund = BookingRefund.objects.get()
        stripe_standin.hang_next("POST", "/v1/refunds", seconds=30)  # still working at Stripe

        with pytest.raises(refunds.RefundRetryLater):
            refunds.refund_send(tenant=tenant, refund_id=refund.pk)
        # The outbox's next run (30 s later; the slow request may well still run).
        stripe_standin.hang_next("POST", "/v1/refunds", seconds=30)
        with pytest.raises(refunds.RefundRetryLater):
            refunds.refund_send(tenant=tenant, refund_id=refund.pk)

    keys = [
        r.idempotency_key
        for r in stripe_standin.requests
        if (r.method, r.path) == ("POST", "/v1/refunds")
    ]
    # Observed: ["altar-refund-N-attempt-1", "altar-refund-N-attempt-2"]: two
    # refund requests that can both land, each for the whole payment.
    assert keys == [f"altar-refund-{refund.pk}-attempt-1"] * 2
