"""`reconcile_stripe`: Altar's ledger against what the stand-in (Stripe)
lists, every difference in words, --fix recording Stripe's side, audited,
idempotent, and a run at scale (10^4 payments across 100 tenants)."""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_scopes import scopes_disabled

from bookings import money
from bookings.models import (
    Booking,
    BookingDispute,
    BookingPayment,
    BookingRefund,
    ReconcileRun,
)
from catalog.models import Package
from tenants.models import AuditEntry, Tenant
from tests.factories import BookingFactory, PackageFactory, TenantFactory


def reconcile(*args: str) -> tuple[int, dict]:
    """Run the command with --json; (exit status, its JSON)."""
    out = StringIO()
    try:
        call_command("reconcile_stripe", "--json", *args, stdout=out)
        status = 0
    except CommandError:
        status = 1
    return status, json.loads(out.getvalue())


def kinds(report: list[dict]) -> list[tuple[str, str]]:
    return sorted((d["kind"], d["stripe_id"]) for d in report)


def paid_booking(standin, tenant, *, amount=150_000, **fields) -> Booking:
    """A confirmed booking Stripe charged (seeded straight into the stand-in)."""
    booking = BookingFactory(
        tenant=tenant,
        amount_cents=amount,
        paid_cents=amount,
        commission_bps=tenant.commission_bps,
        commission_cents=money.commission_for(amount_cents=amount, bps=tenant.commission_bps),
        **fields,
    )
    pi, _charge = standin.seed_payment(
        amount, metadata={"booking_id": str(booking.pk), "tenant": tenant.slug}
    )
    Booking.objects.filter(pk=booking.pk).update(stripe_payment_intent_id=pi)
    # The factory put the checkout payment in the ledger: it is this charge.
    BookingPayment.objects.filter(booking=booking).update(stripe_payment_intent_id=pi)
    booking.refresh_from_db()
    return booking


@pytest.fixture
def ledger(db, stripe_standin, unscoped):
    return stripe_standin


def test_matching_books_report_nothing_and_exit_zero(ledger, tenant):
    booking = paid_booking(ledger, tenant)
    refund_id = ledger.seed_refund(booking.stripe_payment_intent_id, 50_000)
    BookingRefund.objects.create(
        tenant=tenant,
        booking=booking,
        payment=BookingPayment.objects.get(booking=booking),
        amount_cents=50_000,
        status="succeeded",
        reason="staff_cancel",
        stripe_refund_id=refund_id,
    )
    Booking.objects.filter(pk=booking.pk).update(
        refunded_cents=50_000,
        commission_refunded_cents=money.commission_refunded_for(
            commission_cents=booking.commission_cents, refunded_cents=50_000, paid_cents=150_000
        ),
    )

    status, report = reconcile()

    assert (status, report["remaining"], report["fixed"]) == (0, [], [])
    assert report["stripe_objects"] == 2  # one charge, one refund
    run = ReconcileRun.objects.get()
    assert (run.remaining, run.fixed, run.tenant, run.fix) == (0, 0, None, False)


def test_each_difference_is_reported_in_words(ledger, tenant, other_tenant):
    # Refunded in Stripe's dashboard, the webhook never arrived.
    dashboard = paid_booking(ledger, tenant)
    dashboard_refund = ledger.seed_refund(dashboard.stripe_payment_intent_id, 20_000)
    # Stripe charged 1 cent less than Altar recorded.
    short = paid_booking(ledger, tenant)
    BookingPayment.objects.filter(booking=short).update(amount_cents=150_001)
    # Altar confirmed a booking Stripe never charged.
    uncharged = BookingFactory(
        tenant=tenant, paid_cents=150_000, stripe_payment_intent_id="pi_gone"
    )
    # Altar counts a refund Stripe does not have.
    phantom = paid_booking(ledger, tenant, refunded_cents=10_000)
    BookingRefund.objects.create(
        tenant=tenant,
        booking=phantom,
        payment=BookingPayment.objects.get(booking=phantom),
        amount_cents=10_000,
        status="succeeded",
        reason="staff_cancel",
        stripe_refund_id="re_phantom",
    )
    # A dispute Altar never heard of (another tenant).
    disputed = paid_booking(ledger, other_tenant)
    ledger.configure_webhooks()  # no endpoint: the dispute's event goes nowhere
    dispute_id = ledger.open_dispute(disputed.stripe_payment_intent_id).event["data"]["object"][
        "id"
    ]
    # A payment for no booking at all.
    _pi, stray_charge = ledger.seed_payment(9_900, metadata={"tenant": tenant.slug})

    status, report = reconcile()

    assert status == 1
    by_kind = {d["kind"]: d for d in report["remaining"]}
    assert kinds(report["remaining"]) == sorted(
        [
            ("refund_unknown", dashboard_refund),
            ("amount_mismatch", ledger.get(short.stripe_payment_intent_id)["latest_charge"]),
            ("charge_missing", "pi_gone"),
            ("refund_missing_at_stripe", "re_phantom"),
            ("dispute_unknown", dispute_id),
            ("payment_unknown", stray_charge),
        ]
    )
    assert by_kind["refund_unknown"]["message"] == (
        f"Stripe refunded 200.00 USD of booking {dashboard.pk} ({dashboard_refund}, succeeded); "
        "Altar has no record of this refund."
    )
    assert by_kind["charge_missing"]["message"] == (
        f"booking {uncharged.pk} is confirmed with 1,500.00 USD paid (pi_gone); "
        "Stripe has no charge for it."
    )
    assert by_kind["dispute_unknown"]["tenant"] == other_tenant.slug
    assert [d["fixable"] for d in report["remaining"] if d["fixable"]] == [True, True]

    # One tenant only: the other tenant's dispute is not its business.
    _status, only_other = reconcile("--tenant", other_tenant.slug)
    assert kinds(only_other["remaining"]) == [("dispute_unknown", dispute_id)]


def test_fix_records_what_stripe_did_audited_and_a_second_run_finds_nothing(ledger, tenant):
    booking = paid_booking(ledger, tenant)
    refund_id = ledger.seed_refund(booking.stripe_payment_intent_id, 30_000)
    ledger.configure_webhooks()
    dispute_id = ledger.open_dispute(booking.stripe_payment_intent_id).event["data"]["object"]["id"]

    status, report = reconcile("--fix")

    assert (status, [d["message"] for d in report["remaining"]]) == (0, [])
    assert kinds(report["fixed"]) == sorted(
        [("refund_unknown", refund_id), ("dispute_unknown", dispute_id)]
    )
    assert report["remaining"] == []
    booking.refresh_from_db()
    assert (booking.refunded_cents, booking.commission_refunded_cents) == (
        30_000,
        money.commission_refunded_for(
            commission_cents=booking.commission_cents, refunded_cents=30_000, paid_cents=150_000
        ),
    )
    row = BookingRefund.objects.get(booking=booking)
    assert (row.stripe_refund_id, row.status, row.reason) == (
        refund_id,
        "succeeded",
        "stripe_dashboard",
    )
    assert BookingDispute.objects.get(booking=booking).status == "needs_response"
    entries = AuditEntry.objects.filter(object_id=str(booking.pk), action="booking.reconciled")
    assert sorted((e.actor_kind, e.actor_label, e.changes["difference"][0]) for e in entries) == [
        ("command", "command:reconcile_stripe", "dispute_unknown"),
        ("command", "command:reconcile_stripe", "refund_unknown"),
    ]

    again_status, again = reconcile("--fix")
    assert (again_status, again["fixed"], again["remaining"]) == (0, [], [])
    assert AuditEntry.objects.filter(action="booking.reconciled").count() == 2


def test_refund_altar_asked_for_and_stripe_made_is_recorded_on_its_row(ledger, tenant):
    booking = paid_booking(ledger, tenant)
    row = BookingRefund.objects.create(
        tenant=tenant,
        booking=booking,
        payment=BookingPayment.objects.get(booking=booking),
        amount_cents=40_000,
        status="requested",
        reason="staff_cancel",
    )
    refund_id = ledger.seed_refund(
        booking.stripe_payment_intent_id, 40_000, metadata={"altar_refund": str(row.pk)}
    )

    status, report = reconcile()
    assert status == 1
    assert kinds(report["remaining"]) == [("refund_unrecorded", refund_id)]

    status, report = reconcile("--fix")
    assert (status, kinds(report["fixed"])) == (0, [("refund_unrecorded", refund_id)])
    row.refresh_from_db()
    assert (row.stripe_refund_id, row.status) == (refund_id, "succeeded")
    assert BookingRefund.objects.filter(booking=booking).count() == 1


def test_refund_stripe_failed_is_fixed_forward_never_backward(ledger, tenant):
    booking = paid_booking(ledger, tenant, refunded_cents=25_000)
    failed = ledger.seed_refund(booking.stripe_payment_intent_id, 25_000, status="failed")
    BookingRefund.objects.create(
        tenant=tenant,
        booking=booking,
        payment=BookingPayment.objects.get(booking=booking),
        amount_cents=25_000,
        status="succeeded",
        reason="staff_cancel",
        stripe_refund_id=failed,
    )

    status, report = reconcile("--fix")

    assert (status, kinds(report["fixed"]), report["remaining"]) == (
        0,
        [("refund_status_mismatch", failed)],
        [],
    )
    booking.refresh_from_db()
    assert booking.refunded_cents == 0


def test_a_pending_refund_on_a_connect_charge_is_compared_once_it_settles(ledger, tenant):
    """Stripe gives the application fee's share back when it creates a refund;
    Altar counts commission reversed once the refund succeeds. While the
    refund is pending that is no difference of its own; settled, the fee is
    (found by the money machine: `commission_refund_mismatch` mid-flight)."""
    account = ledger.create_account(charges_enabled=True, transfers="active")
    booking = BookingFactory(
        tenant=tenant,
        amount_cents=150_000,
        paid_cents=150_000,
        commission_bps=tenant.commission_bps,
        commission_cents=money.commission_for(amount_cents=150_000, bps=tenant.commission_bps),
        stripe_account_id=account["id"],
    )
    pi, charge = ledger.seed_payment(
        150_000,
        metadata={"booking_id": str(booking.pk), "tenant": tenant.slug},
        application_fee_amount=booking.commission_cents,
        destination=account["id"],
    )
    Booking.objects.filter(pk=booking.pk).update(stripe_payment_intent_id=pi)
    BookingPayment.objects.filter(booking=booking).update(
        stripe_payment_intent_id=pi, application_fee_cents=booking.commission_cents
    )
    ledger.refunds_pending(True)
    ledger.refund_in_dashboard(pi, refund_application_fee=True)
    ledger.refunds_pending(False)
    refund_id = ledger.refunds_of(pi)[0]["id"]
    # Altar heard of it (refund.created): recorded, pending, nothing counted yet.
    row = BookingRefund.objects.create(
        tenant=tenant,
        booking=booking,
        payment=BookingPayment.objects.get(booking=booking),
        amount_cents=150_000,
        status="pending",
        reason="stripe_dashboard",
        stripe_refund_id=refund_id,
    )

    status_pending, pending = reconcile()
    ledger.settle_refund(refund_id)
    BookingRefund.objects.filter(pk=row.pk).update(status="succeeded")
    Booking.objects.filter(pk=booking.pk).update(
        refunded_cents=150_000, commission_refunded_cents=booking.commission_cents
    )
    status_settled, settled = reconcile()
    Booking.objects.filter(pk=booking.pk).update(commission_refunded_cents=0)
    _status, wrong = reconcile()

    assert (status_pending, pending["remaining"]) == (0, [])
    assert (status_settled, settled["remaining"]) == (0, [])
    fee_id = ledger.get(charge)["application_fee"]
    assert kinds(wrong["remaining"]) == [("commission_refund_mismatch", fee_id)]


def test_since_limits_the_period(ledger, tenant):
    old = int(time.time()) - 3 * 86400
    _pi, old_charge = ledger.seed_payment(5_000, metadata={"tenant": tenant.slug}, created=old)
    _pi, new_charge = ledger.seed_payment(6_000, metadata={"tenant": tenant.slug})
    since = (timezone.now() - dt.timedelta(days=1)).isoformat()

    _status, recent = reconcile("--since", since)
    _status, everything = reconcile()

    assert kinds(recent["remaining"]) == [("payment_unknown", new_charge)]
    assert kinds(everything["remaining"]) == sorted(
        [("payment_unknown", new_charge), ("payment_unknown", old_charge)]
    )


def test_bad_arguments_exit_with_one_line(ledger):
    with pytest.raises(CommandError, match="No tenant with slug 'nobody'"):
        call_command("reconcile_stripe", "--tenant", "nobody")
    with pytest.raises(CommandError, match="--since"):
        call_command("reconcile_stripe", "--since", "yesterday")
    assert ReconcileRun.objects.count() == 0


def test_stripe_unreachable_is_one_line_and_no_run(ledger):
    ledger.fail_next("GET", "/v1/charges", status=500)
    with pytest.raises(CommandError, match="Stripe could not be read"):
        call_command("reconcile_stripe")
    assert ReconcileRun.objects.count() == 0


def test_dashboard_shows_the_last_run_to_superusers_only(ledger, tenant, superuser_client, client):
    assert "Never run" in superuser_client.get("/admin/").content.decode()
    booking = paid_booking(ledger, tenant)
    BookingPayment.objects.filter(booking=booking).update(amount_cents=1)  # a mismatch
    reconcile()

    page = superuser_client.get("/admin/").content.decode()
    assert 'id="dash-reconcile"' in page
    assert "1 compared, 0 fixed, 1 difference remains." in page
    assert "Altar has its deposit payment" in page

    from tests.factories import MembershipFactory

    staff = MembershipFactory(tenant=tenant).user
    client.force_login(staff)
    assert 'id="dash-reconcile"' not in client.get("/admin/").content.decode()


# --- at scale --------------------------------------------------------------------


TENANTS = 100
PER_TENANT = 100  # 10^4 payments
REFUND_EVERY = 3  # every third payment partly refunded: ~3,300 refunds


def test_reconcile_ten_thousand_payments_across_a_hundred_tenants_finds_exactly_the_planted(
    ledger,
):
    """10^4 charges and ~3,300 refunds seeded straight into the stand-in, the
    bookings and refund rows bulk-inserted, then a few changed behind
    Altar's back: the run reports exactly those, and --fix leaves only
    what a person must look at."""
    with scopes_disabled():
        tenants = Tenant.objects.bulk_create(
            TenantFactory.build(slug=f"bulk-{i:03d}", name=f"Bulk {i}") for i in range(TENANTS)
        )
        packages = Package.objects.bulk_create(
            PackageFactory.build(tenant=t, slug="p", title="P") for t in tenants
        )
        start = timezone.now().date() + dt.timedelta(days=30)
        bookings: list[Booking] = []
        refunds: list[BookingRefund] = []
        for t, package in zip(tenants, packages, strict=True):
            for n in range(PER_TENANT):
                amount = 100_000 + n * 7
                commission = money.commission_for(amount_cents=amount, bps=t.commission_bps)
                pi, _charge = ledger.seed_payment(amount, metadata={"tenant": t.slug})
                booking = Booking(
                    id=uuid.uuid4(),
                    tenant=t,
                    package=package,
                    event_date=start + dt.timedelta(days=n),
                    couple_name="Bulk",
                    email="bulk@example.com",
                    status="confirmed",
                    amount_cents=amount,
                    currency="usd",
                    commission_bps=t.commission_bps,
                    commission_cents=commission,
                    paid_cents=amount,
                    stripe_payment_intent_id=pi,
                )
                if n % REFUND_EVERY == 0:
                    refund_id = ledger.seed_refund(pi, 10_000)
                    booking.refunded_cents = 10_000
                    booking.commission_refunded_cents = money.commission_refunded_for(
                        commission_cents=commission, refunded_cents=10_000, paid_cents=amount
                    )
                    refunds.append(
                        BookingRefund(
                            tenant=t,
                            booking=booking,
                            amount_cents=10_000,
                            status="succeeded",
                            reason="staff_cancel",
                            stripe_refund_id=refund_id,
                        )
                    )
                bookings.append(booking)
        Booking.objects.bulk_create(bookings, batch_size=2000)
        deposits = BookingPayment.objects.bulk_create(
            (
                BookingPayment(
                    tenant=b.tenant,
                    booking=b,
                    kind=BookingPayment.Kind.DEPOSIT,
                    status=BookingPayment.Status.SUCCEEDED,
                    amount_cents=b.paid_cents,
                    application_fee_cents=b.commission_cents,
                    stripe_payment_intent_id=b.stripe_payment_intent_id,
                )
                for b in bookings
            ),
            batch_size=2000,
        )
        deposit_of = {d.booking_id: d for d in deposits}
        for refund in refunds:
            refund.payment = deposit_of[refund.booking_id]
        BookingRefund.objects.bulk_create(refunds, batch_size=2000)

        # Behind Altar's back:
        planted = []
        for booking in bookings[5:2000:400]:  # 5 dashboard refunds
            planted.append(
                ("refund_unknown", ledger.seed_refund(booking.stripe_payment_intent_id, 1_000))
            )
        for booking in bookings[7:9000:3000]:  # 3 payments Altar recorded differently
            BookingPayment.objects.filter(booking=booking).update(
                amount_cents=booking.paid_cents + 100
            )
            planted.append(
                ("amount_mismatch", ledger.get(booking.stripe_payment_intent_id)["latest_charge"])
            )
        for booking in (bookings[11], bookings[5011]):  # 2 refund rows Stripe never made
            BookingRefund.objects.create(
                tenant=booking.tenant,
                booking=booking,
                payment=BookingPayment.objects.get(booking=booking),
                amount_cents=500,
                status="succeeded",
                reason="staff_cancel",
                stripe_refund_id=f"re_missing{booking.pk.hex[:8]}",
            )
            planted.append(("refund_missing_at_stripe", f"re_missing{booking.pk.hex[:8]}"))
        for booking in (bookings[13], bookings[9013]):  # 2 disputes Altar never heard of
            ledger.configure_webhooks()
            delivery = ledger.open_dispute(booking.stripe_payment_intent_id, amount=1_000)
            planted.append(("dispute_unknown", delivery.event["data"]["object"]["id"]))
        stray = ledger.seed_payment(4_200, metadata={"tenant": "bulk-042"})[1]
        planted.append(("payment_unknown", stray))

    started = time.monotonic()
    status, report = reconcile()
    seconds = time.monotonic() - started
    print(f"\nreconcile over {report['stripe_objects']} Stripe objects: {seconds:.1f} s")

    assert status == 1
    assert kinds(report["remaining"]) == sorted(planted)
    assert report["stripe_objects"] == 10_001 + len(refunds) + 5 + 2

    status, fixed = reconcile("--fix")
    assert status == 1
    assert (
        sorted(d["kind"] for d in fixed["fixed"])
        == ["dispute_unknown"] * 2 + ["refund_unknown"] * 5
    )
    assert sorted(d["kind"] for d in fixed["remaining"]) == (
        ["amount_mismatch"] * 3 + ["payment_unknown"] + ["refund_missing_at_stripe"] * 2
    )
