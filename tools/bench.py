"""`make bench`: throughput and latency of the API on loopback, as ratios to /healthz.

Starts gunicorn (production settings, DEBUG off) against a freshly seeded
benchmark database, drives it with a closed-loop load generator (keep-alive
HTTP/1.1 clients in threads, a fixed number of requests each), prints a table
and writes it to bench-results/. Everything stays on 127.0.0.1 and stops by
itself. Figures vary with the machine; the ratios are what to compare.

Scenarios: /healthz (the baseline), the package list, a 366-day availability
range, checkout for distinct dates (against the Stripe stand-in,
tools/stripe_standin.py), 200 concurrent checkouts for one date across two
gunicorn processes (exactly one must win), and signed
`checkout.session.completed` webhooks with 25 % duplicate deliveries (every
booking must be confirmed exactly once). The last two print PASS/FAIL lines.

By default the deployment shape of docs/deploy.md runs: two gunicorn
processes (the second joins for the contention run), one `db_worker`
draining the outbox (the webhooks' confirmation e-mails), and Redis
(REDIS_URL, db 3) for the cache and throttles; `--no-redis` and
`--no-worker` drop those. Then, unless `--skip-big`, availability cost for
one tenant while the separate database altar_bench_big holds 10^4 and then
10^6 bookings over 1,000 tenants: selector and API latency, and the index
the query plan uses.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.stripe_standin import sign_payload  # noqa: E402 - needs the root on sys.path

# `--db NAME` (or BENCH_DB) picks the database, so several checkouts of the
# repository can bench on one server without dropping each other's.
BENCH_DB = os.environ.get("BENCH_DB", "altar_bench")
BENCH_KEY = "pk_live_" + "BenchTenantPublishableKey".ljust(40, "0")
BENCH_SLUG = "bench-studio"
WEBHOOK_SECRET = "whsec_benchSecret" + "0" * 24
WEBHOOK_UUID = "0b5e7c1a-6d2f-4c3e-9a10-be0c4b3e0001"
CONTENDERS = 200
BENCH_REDIS_URL = "redis://127.0.0.1:6379/3"
MAX_CHECKOUTS = 3000
STANDIN_API_VERSION = "2024-06-20"

# Days after today (tenant time zone UTC) for each scenario's dates, so no
# scenario ever meets another's booking.
AVAILABILITY_DAYS = 366  # inclusive range: today .. today + 365
WEBHOOK_FIRST_DAY = 400
CHECKOUT_FIRST_DAY = 1000
BALANCE_FIRST_DAY = 4500


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]
    error_codes: dict[str, int] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=f"postgres://postgres@127.0.0.1:5432/{BENCH_DB}",
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY="bench-only-" + "k8s2m4n6p8" * 6,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="false",
        THROTTLE_RATE_PER_KEY="1000000/min",
        THROTTLE_RATE_PER_KEY_CLIENT="1000000/min",
        THROTTLE_RATE_PER_IP="1000000/min",
        # One bench client books thousands of dates under one e-mail: limits
        # far above that, so the hold-limit check (lock and count) still runs.
        HOLD_LIMIT_PER_EMAIL="1000000",
        HOLD_LIMIT_PER_ADDRESS="1000000",
        HOLD_LIMIT_PER_TENANT="1000000",
        STRIPE_SECRET_KEY=env.get("STRIPE_SECRET_KEY", "sk_test_altarStandinLocalOnly000000"),
        LOG_LEVEL="WARNING",
        # Production settings require a mail server; the bench's mails
        # (confirmations) go to the worker's log.
        EMAIL_URL=env.get("EMAIL_URL", "consolemail://"),
    )
    # Production settings refuse a non-Stripe STRIPE_API_BASE: only the
    # gunicorn processes get the stand-in's URL (and the explicit allowance).
    env.pop("STRIPE_API_BASE", None)
    return env


def reset_database(env: dict[str, str], *, copy_to: str | None = None) -> None:
    """A freshly migrated BENCH_DB; `copy_to` gets a copy of it (migrating
    twice would cost minutes: dj-stripe has many migrations)."""
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
        )
        if copy_to:
            conn.execute(f"DROP DATABASE IF EXISTS {copy_to} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {copy_to} TEMPLATE {BENCH_DB}")


SEED_SCRIPT = """
import datetime as dt
import io
import json
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image
from bookings.models import Booking
from bookings.money import commission_for
from bookings.services import blackout_date_set
from catalog import services as catalog
from catalog.models import Package
from tenants.models import ApiKey, Tenant
from tenants.scoping import tenant_scope
from tenants.services import api_key_issue, tenant_create

created = tenant_create(slug=SLUG, name="Bench Studio")
tenant = created.tenant
api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE, key=KEY)
# A window wide enough for thousands of distinct checkout dates.
Tenant.objects.filter(pk=tenant.pk).update(max_advance_days=4000, min_notice_days=0)
tenant.refresh_from_db()

def png(n):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (n * 10 % 255, 80, 120)).save(buffer, "PNG")
    return SimpleUploadedFile(f"photo-{n}.png", buffer.getvalue(), content_type="image/png")

with tenant_scope(tenant):
    for n in range(8):
        catalog.add_on_create(
            tenant=tenant, slug=f"extra-{n}", title=f"Extra {n}", price_cents=5000 + n
        )
    for n in range(20):
        catalog.package_create(
            tenant=tenant, slug=f"package-{n}", title=f"Package {n}", price_cents=100000 + n,
            description="A day to remember. " * 5, position=n,
            add_on_slugs=[f"extra-{(n + k) % 8}" for k in range(3)],
        )
        for p in range(2):
            catalog.package_photo_add(
                tenant=tenant, package_slug=f"package-{n}", image=png(n * 2 + p),
                alt=f"Photo {p}",
            )

    now = timezone.now()
    today = dt.date.fromisoformat(TODAY)
    package = Package.objects.get(tenant=tenant, slug="package-0")
    commission = commission_for(amount_cents=package.price_cents, bps=tenant.commission_bps)

    def booking(day, status, session_id=None):
        return Booking(
            tenant=tenant, package=package, event_date=today + dt.timedelta(days=day),
            couple_name="Bench Couple", email="couple@example.com", status=status,
            hold_expires_at=now + dt.timedelta(days=1) if status == Booking.Status.HELD else None,
            confirmed_at=now if status == Booking.Status.CONFIRMED else None,
            amount_cents=package.price_cents, currency=tenant.currency,
            commission_bps=tenant.commission_bps, commission_cents=commission,
            stripe_checkout_session_id=session_id,
        )

    # The availability range: 100 bookings (2/3 confirmed, 1/3 held; holds
    # outlast the run) and 30 blackouts spread over the 366 days.
    Booking.objects.bulk_create(
        booking(1 + 3 * k, Booking.Status.HELD if k % 3 == 2 else Booking.Status.CONFIRMED)
        for k in range(100)
    )
    for k in range(30):
        blackout_date_set(tenant=tenant, date=today + dt.timedelta(days=2 + 12 * k), reason="Bench")

    # Held bookings whose Checkout Sessions the webhook scenario will pay.
    paid = Booking.objects.bulk_create(
        booking(FIRST_WEBHOOK_DAY + n, Booking.Status.HELD, f"cs_bench_{n}")
        for n in range(WEBHOOKS)
    )
    print("BENCH_SEED " + json.dumps([[str(b.pk), b.amount_cents] for b in paid]))
"""


VERIFY_SCRIPT = """
import datetime as dt
import json
from django.db.models import Count, F
from django_tasks_db.models import DBTaskResult
from djstripe.models import WebhookEventTrigger
from bookings.models import Booking
from tenants.scoping import scopes_disabled
from webhooks.models import StripeEvent

with scopes_disabled():
    contended = Booking.objects.filter(
        tenant__slug=SLUG, event_date=dt.date.fromisoformat(CONTENDED),
        status__in=Booking.ACTIVE_STATUSES,
    ).count()
    webhooked = Booking.objects.filter(
        tenant__slug=SLUG, stripe_checkout_session_id__startswith="cs_bench_"
    )
    events = StripeEvent.objects.filter(event_id__startswith="evt_bench_")
    triggers = WebhookEventTrigger.objects.filter(body__contains="evt_bench_")

    def counts(qs, field):
        return {str(k): v for k, v in qs.values_list(field).annotate(n=Count("pk")).order_by()}

    print("BENCH_VERIFY " + json.dumps({
        "contended_active": contended,
        "webhook_bookings": webhooked.count(),
        "webhook_statuses": counts(webhooked, "status"),
        "webhook_paid_right": webhooked.filter(
            status="confirmed", paid_cents=F("amount_cents")
        ).count(),
        "events": events.count(),
        "events_by_status": counts(events, "status"),
        "events_by_attempts": counts(events, "attempts"),
        "events_outcomes": counts(events, "outcome"),
        "triggers": triggers.count(),
        "trigger_exceptions": counts(triggers, "exception"),
        "mail_tasks": DBTaskResult.objects.count(),
        "task_statuses": counts(DBTaskResult.objects.all(), "status"),
    }))
"""


def manage_shell(env: dict[str, str], code: str, marker: str) -> object:
    """Run `code` in `manage.py shell` and return the JSON it printed after `marker`."""
    out = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith(marker + " "):
            return json.loads(line[len(marker) + 1 :])
    raise SystemExit(f"manage.py shell printed no {marker} line:\n{out}")


def seed(env: dict[str, str], *, today: dt.date, webhooks: int) -> list[list]:
    code = (
        f"KEY = {BENCH_KEY!r}\nSLUG = {BENCH_SLUG!r}\nTODAY = {today.isoformat()!r}\n"
        f"FIRST_WEBHOOK_DAY = {WEBHOOK_FIRST_DAY}\nWEBHOOKS = {webhooks}\n" + SEED_SCRIPT
    )
    return manage_shell(env, code, "BENCH_SEED")  # type: ignore[return-value]


def verify(env: dict[str, str], *, contended: dt.date) -> dict:
    code = f"SLUG = {BENCH_SLUG!r}\nCONTENDED = {contended.isoformat()!r}\n" + VERIFY_SCRIPT
    return manage_shell(env, code, "BENCH_VERIFY")  # type: ignore[return-value]


def webhook_endpoint(env: dict[str, str]) -> str:
    out = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "stripe_webhook_endpoint",
            "--secret",
            WEBHOOK_SECRET,
            "--uuid",
            WEBHOOK_UUID,
            "--json",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["path"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, what: str, path: str | None) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            if path is None:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", path)
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"{what} did not start")


def start_gunicorn(
    env: dict[str, str], port: int, workers: int, log_path: Path
) -> subprocess.Popen:
    # Every 4xx is logged as a warning (199 per contention round): to a file,
    # not the terminal. Both servers append to the same file.
    with log_path.open("a") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--worker-class",
                "gthread",
                "--threads",
                "4",
                "--log-level",
                "warning",
                "--keep-alive",
                "5",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wait_listening(port, proc, "gunicorn", "/healthz")
    return proc


def start_standin(port: int, api_key: str, log_path: Path) -> subprocess.Popen:
    # No webhook URL: the stand-in must not send events of its own while the
    # webhook scenario counts ours. It logs every request, hence the file.
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tools.stripe_standin",
                "--port",
                str(port),
                "--api-key",
                api_key,
            ],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wait_listening(port, proc, "stripe stand-in", None)
    return proc


def start_worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    # Console e-mail backend: the mails land in the worker's log file.
    with log_path.open("w") as log:
        return subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--interval", "0.2"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def wait_outbox_drained(database_url: str, timeout: float = 120) -> int:
    """Waits until no task is READY or RUNNING; returns how many still are."""
    import psycopg

    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            pending = conn.execute(
                "SELECT count(*) FROM django_tasks_database_dbtaskresult "
                "WHERE status IN ('READY', 'RUNNING')"
            ).fetchone()[0]
            if pending == 0 or time.monotonic() > deadline:
                return pending
            time.sleep(0.5)


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def drive(
    name: str,
    ports: Sequence[int],
    plan: Sequence[Sequence[Call]],
    *,
    warmup: Call | None = None,
    warmup_count: int = 0,
) -> Result:
    """Closed loop: one keep-alive connection per client (client i talks to
    ports[i % len(ports)]), each sending its own list of calls in order; all
    start together behind a barrier. Counts statuses and error codes."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    error_codes: dict[str, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(len(plan) + 1)

    def send(conn: http.client.HTTPConnection, call: Call) -> tuple[int, bytes]:
        conn.request(call.method, call.path, body=call.body, headers=call.headers)
        response = conn.getresponse()
        return response.status, response.read()

    def run(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", ports[index % len(ports)], timeout=120)
        for _ in range(warmup_count if warmup else 0):
            send(conn, warmup)  # type: ignore[arg-type]
        mine: list[float] = []
        codes: dict[int, int] = {}
        errors: dict[str, int] = {}
        barrier.wait()
        for call in plan[index]:
            start = time.perf_counter()
            try:
                status, body = send(conn, call)
            except OSError as exc:  # counted, not fatal: the table shows it
                status, body = 599, json.dumps({"error": {"code": type(exc).__name__}}).encode()
                conn.close()
                conn = http.client.HTTPConnection(
                    "127.0.0.1", ports[index % len(ports)], timeout=120
                )
            mine.append((time.perf_counter() - start) * 1000)
            codes[status] = codes.get(status, 0) + 1
            if status >= 400:
                try:
                    code = json.loads(body)["error"]["code"]
                except (ValueError, KeyError, TypeError):
                    code = "(not the error format)"
                errors[code] = errors.get(code, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count
            for code, count in errors.items():
                error_codes[code] = error_codes.get(code, 0) + count

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(plan))]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return Result(name, sum(len(p) for p in plan), elapsed, latencies, statuses, error_codes)


def load(
    name: str,
    port: int,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    clients: int = 8,
    per_client: int = 250,
    warmup: int = 20,
) -> Result:
    """Closed loop GETs: `clients` keep-alive connections, `per_client` requests each."""
    call = Call("GET", path, headers=headers or {})
    return drive(
        name,
        [port],
        [[call] * per_client for _ in range(clients)],
        warmup=call,
        warmup_count=warmup,
    )


def checkout_call(day: dt.date, email: str = "couple@example.com") -> Call:
    body = {
        "package": "package-0",
        "add_ons": ["extra-0"],
        "event_date": day.isoformat(),
        "couple_name": "Bench Couple",
        "email": email,
    }
    headers = {"X-Tenant-Key": BENCH_KEY, "Content-Type": "application/json"}
    return Call("POST", "/api/v1/checkout", json.dumps(body).encode(), headers)


def webhook_plan(path: str, paid: list[list], clients: int) -> list[list[Call]]:
    """One signed checkout.session.completed per booking, plus a redelivery
    (same event id, fresh signature) of every 4th event, interleaved soon
    after its first delivery, dealt round-robin to the clients - so some
    duplicates race their original on another connection."""
    now = int(time.time())
    payloads = []
    for n, (booking_id, amount) in enumerate(paid):
        event = {
            "id": f"evt_bench_{n}",
            "object": "event",
            "type": "checkout.session.completed",
            "api_version": STANDIN_API_VERSION,
            "created": now,
            "livemode": False,
            "data": {
                "object": {
                    "id": f"cs_bench_{n}",
                    "object": "checkout.session",
                    "payment_status": "paid",
                    "status": "complete",
                    "amount_total": amount,
                    "currency": "usd",
                    "payment_intent": f"pi_bench_{n}",
                    "client_reference_id": booking_id,
                    "metadata": {"booking_id": booking_id, "tenant": BENCH_SLUG},
                }
            },
        }
        payloads.append(json.dumps(event).encode())
    order: list[bytes] = []
    for n, payload in enumerate(payloads):
        order.append(payload)
        if n % 4 == 3:
            order.append(payloads[n - 2])  # the redelivery trails its original by a little
    plan: list[list[Call]] = [[] for _ in range(clients)]
    for i, payload in enumerate(order):
        headers = {
            "Content-Type": "application/json",
            "Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET),
        }
        plan[i % clients].append(Call("POST", path, payload, headers))
    return plan


def table(results: list[Result], baseline: Result) -> str:
    lines = [
        "| scenario | requests | req/s | p50 ms | p99 ms | ratio to healthz | statuses "
        "| error codes |",
        "|---|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.requests} | {r.rps:.0f} | {r.pct(50):.1f} | {r.pct(99):.1f} "
            f"| {r.rps / baseline.rps:.2f} | {json.dumps(r.statuses, sort_keys=True)} "
            f"| {json.dumps(r.error_codes, sort_keys=True) if r.error_codes else ''} |"
        )
    return "\n".join(lines)


def check(lines: list[str], ok: bool, what: str) -> None:
    lines.append(f"{'PASS' if ok else 'FAIL'} {what}")


# --- Availability cost at 10^4 vs 10^6 bookings (separate database) --------

BIG_DB = os.environ.get("BENCH_DB", "altar_bench") + "_big"
BIG_TENANTS = 1000
BIG_KEY = "pk_live_" + "BenchBigTenantPublishableKey".ljust(40, "0")
BIG_SIZES = (10_000, 1_000_000)
MEASURED_BOOKINGS = 100  # the measured tenant's, in its 366-day range, at both sizes

BIG_SEED_SCRIPT = """
import json
from catalog.models import Package
from tenants.models import ApiKey, Tenant
from tenants.services import api_key_issue, tenant_create

# The measured tenant through the services (it needs a real API key); the
# other 999 in bulk: they only have to exist and own bookings.
measured = tenant_create(slug="big-0000", name="Big 0").tenant
api_key_issue(tenant=measured, kind=ApiKey.Kind.PUBLISHABLE, key=KEY)
others = Tenant.objects.bulk_create(
    Tenant(slug=f"big-{n:04d}", name=f"Big {n}") for n in range(1, TENANTS)
)
Package.objects.bulk_create(
    Package(tenant=t, slug="package-0", title="Package 0", price_cents=100000)
    for t in [measured, *others]
)
print("BENCH_BIG " + json.dumps(measured.pk))
"""

# Bookings straight in SQL (INSERT ... SELECT generate_series): seconds for a
# million rows, where the ORM would take minutes. Every other tenant gets
# bookings k = lo .. hi-1 on distinct dates from 300 days ago (so they overlap
# the measured range); a third canceled, the rest confirmed.
BIG_INSERT_SQL = """
INSERT INTO bookings_booking (
    id, tenant_id, package_id, event_date, couple_name, email, phone, notes, status,
    hold_expires_at, amount_cents, currency, commission_bps, commission_cents, paid_cents,
    refunded_cents, commission_refunded_cents, stripe_checkout_session_id,
    stripe_payment_intent_id, stripe_account_id, checkout_url, created_at, updated_at,
    confirmed_at, canceled_at, expired_at, cancel_reason, confirmation_mailed_at,
    cancellation_mailed_at)
SELECT gen_random_uuid(), p.tenant_id, p.id, %(first)s::date + %(step)s * k, 'Seed Couple',
    'seed@example.com', '', '', CASE WHEN k %% 3 = 0 THEN 'canceled' ELSE 'confirmed' END,
    NULL, 100000, 'usd', 1000, 10000, 100000, 0, 0, NULL, NULL, '', '', now(), now(),
    CASE WHEN k %% 3 = 0 THEN NULL ELSE now() END, CASE WHEN k %% 3 = 0 THEN now() END,
    NULL, '', NULL, NULL
FROM catalog_package p CROSS JOIN generate_series(%(lo)s, %(hi)s - 1) AS k
WHERE p.tenant_id {op} %(measured)s
"""

BIG_BLACKOUT_SQL = """
INSERT INTO bookings_blackoutdate (tenant_id, date, reason, created_at)
SELECT %(measured)s, %(first)s::date + 12 * k, 'Bench', now() FROM generate_series(0, 29) AS k
"""

BIG_MEASURE_SCRIPT = """
import datetime as dt
import json
import time
from bookings.selectors import availability_for_range, occupying_bookings
from tenants.models import Tenant
from tenants.scoping import tenant_scope
from django.utils import timezone

tenant = Tenant.objects.get(slug="big-0000")
start = dt.date.fromisoformat(START)
end = start + dt.timedelta(days=365)
timings = []
with tenant_scope(tenant):
    for _ in range(ROUNDS):
        t0 = time.perf_counter()
        availability_for_range(tenant=tenant, start=start, end=end)
        timings.append((time.perf_counter() - t0) * 1000)
    plan = (
        occupying_bookings(tenant=tenant, now=timezone.now())
        .filter(event_date__range=(start, end))
        .values_list("event_date", "status")
        .explain(analyze=True)
    )
timings.sort()
print("BENCH_MEASURE " + json.dumps({
    "p50": timings[len(timings) // 2],
    "p99": timings[min(len(timings) - 1, round(0.99 * (len(timings) - 1)))],
    "plan": plan,
}))
"""


@dataclass
class BigRow:
    total: int
    measured: int
    selector_p50: float
    selector_p99: float
    api: Result
    plan: str

    @property
    def index(self) -> str:
        """The index names the plan scans (what proves the per-tenant cost)."""
        names = re.findall(r"Index (?:Only )?Scan (?:using|on) (\w+)", self.plan)
        return ", ".join(dict.fromkeys(names)) or "NONE (sequential scan)"


def big_availability(
    env: dict[str, str], *, today: dt.date, log_path: Path, workers: int
) -> list[BigRow]:
    """Availability for one tenant (100 bookings, 30 blackouts in its 366-day
    range) while the database holds 10^4, then 10^6 bookings over 1,000 tenants."""
    import psycopg

    # reset_database() made BIG_DB a copy of the freshly migrated BENCH_DB.
    big_env = {**env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BIG_DB}"}
    code = f"KEY = {BIG_KEY!r}\nTENANTS = {BIG_TENANTS}\n" + BIG_SEED_SCRIPT
    measured_pk = manage_shell(big_env, code, "BENCH_BIG")
    others = BIG_TENANTS - 1
    first_other = today - dt.timedelta(days=300)
    rows: list[BigRow] = []
    with psycopg.connect(big_env["DATABASE_URL"], autocommit=True) as conn:
        params = {"measured": measured_pk, "first": today + dt.timedelta(days=1), "step": 3}
        conn.execute(BIG_INSERT_SQL.format(op="="), {**params, "lo": 0, "hi": MEASURED_BOOKINGS})
        conn.execute(BIG_BLACKOUT_SQL, {"measured": measured_pk, "first": today})
        done = 0  # bookings per other tenant so far
        for size in BIG_SIZES:
            per_tenant = -(-(size - MEASURED_BOOKINGS) // others)  # ceiling
            started = time.perf_counter()
            conn.execute(
                BIG_INSERT_SQL.format(op="<>"),
                {**params, "first": first_other, "step": 1, "lo": done, "hi": per_tenant},
            )
            conn.execute("ANALYZE bookings_booking")
            done = per_tenant
            total = conn.execute("SELECT count(*) FROM bookings_booking").fetchone()[0]
            print(f"seeded {total} bookings in {time.perf_counter() - started:.1f} s", flush=True)
            rows.append(
                measure_big(big_env, today=today, total=total, log_path=log_path, workers=workers)
            )
    return rows


def measure_big(
    env: dict[str, str], *, today: dt.date, total: int, log_path: Path, workers: int
) -> BigRow:
    code = f"START = {today.isoformat()!r}\nROUNDS = 200\n" + BIG_MEASURE_SCRIPT
    selector = manage_shell(env, code, "BENCH_MEASURE")
    port = free_port()
    server = start_gunicorn(env, port, workers, log_path)
    try:
        end = today + dt.timedelta(days=AVAILABILITY_DAYS - 1)
        api = load(
            f"GET /api/v1/availability at {total} bookings",
            port,
            f"/api/v1/availability?start={today.isoformat()}&end={end.isoformat()}",
            headers={"X-Tenant-Key": BIG_KEY},
            clients=4,
            per_client=100,
        )
    finally:
        stop(server)
    return BigRow(total, MEASURED_BOOKINGS, selector["p50"], selector["p99"], api, selector["plan"])


def big_table(rows: list[BigRow]) -> str:
    lines = [
        "| bookings in DB (1,000 tenants) | measured tenant's bookings | selector p50 ms "
        "| selector p99 ms | API req/s | API p50 ms | API p99 ms | API statuses "
        "| index in plan |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.total:,} | {r.measured} | {r.selector_p50:.2f} | {r.selector_p99:.2f} "
            f"| {r.api.rps:.0f} | {r.api.pct(50):.1f} | {r.api.pct(99):.1f} "
            f"| {json.dumps(r.api.statuses, sort_keys=True)} | {r.index} |"
        )
    return "\n".join(lines)


# --- balances: N deposits' balances due at once, two sweeps, two workers --------

BALANCE_SEED_SCRIPT = """
import datetime as dt
import json
from django.utils import timezone
from bookings import money
from bookings.models import Booking, BookingPayment
from catalog import services as catalog
from catalog.models import Package
from tenants.models import Tenant
from tenants.scoping import scopes_disabled, tenant_scope
from tenants.services import tenant_create

with scopes_disabled():
    tenant = Tenant.objects.filter(slug=SLUG).first() or tenant_create(
        slug=SLUG, name="Bench Studio"
    ).tenant
    package = Package.objects.filter(tenant=tenant).first()
    if package is None:
        with tenant_scope(tenant):
            package = catalog.package_create(
                tenant=tenant, slug="balance-package", title="Balance", price_cents=180_000
            )
    plan = {"kind": "deposit", "deposit_percent": 30, "deposit_cents": None,
            "deposit_refundable": True, "balance_days_before": 30}
    today = dt.date.fromisoformat(TODAY)
    now = timezone.now()
    amount = package.price_cents
    commission = money.commission_for(amount_cents=amount, bps=tenant.commission_bps)
    deposit = money.deposit_cents_for(amount_cents=amount, plan=plan)
    fee, _ = money.payment_fees(
        commission_cents=commission, amount_cents=amount, deposit_cents=deposit
    )
    bookings = Booking.objects.bulk_create(
        Booking(
            tenant=tenant, package=package,
            event_date=today + dt.timedelta(days=FIRST_DAY + n),
            couple_name="Bench Couple", email="couple@example.com",
            status=Booking.Status.CONFIRMED, confirmed_at=now,
            amount_cents=amount, currency=tenant.currency,
            commission_bps=tenant.commission_bps, commission_cents=commission,
            paid_cents=deposit, payment_plan=plan, deposit_cents=deposit,
            balance_due_on=today, balance_state="scheduled",
            stripe_customer_id=CUSTOMER, stripe_payment_method_id="pm_card_visa",
            card_last4="4242",
        )
        for n in range(N)
    )
    BookingPayment.objects.bulk_create(
        BookingPayment(
            tenant=tenant, booking=b, kind="deposit", status="succeeded",
            amount_cents=deposit, application_fee_cents=fee, succeeded_at=now,
        )
        for b in bookings
    )
    print("BENCH_BALANCES " + json.dumps({"seeded": len(bookings), "amount": amount}))
"""

BALANCE_VERIFY_SCRIPT = """
import json
from django.db.models import Count, F
from django_tasks_db.models import DBTaskResult
from bookings.models import Booking, BookingPayment
from tenants.scoping import scopes_disabled

with scopes_disabled():
    seeded = Booking.objects.filter(tenant__slug=SLUG, balance_due_on__isnull=False)
    balances = BookingPayment.objects.filter(booking__in=seeded, kind="balance")
    print("BENCH_BALANCES_VERIFY " + json.dumps({
        "bookings": seeded.count(),
        "fully_paid": seeded.filter(paid_cents=F("amount_cents"), balance_state="paid").count(),
        "balance_rows": balances.count(),
        "balance_succeeded": balances.filter(status="succeeded").count(),
        "bookings_charged": balances.values("booking").distinct().count(),
        "max_rows_per_booking": max(
            [r["n"] for r in balances.values("booking").annotate(n=Count("pk"))] or [0]
        ),
        "tasks_not_successful": DBTaskResult.objects.exclude(status="SUCCESSFUL").count(),
    }))
"""


def standin_call(port: int, api_key: str, path: str, data: bytes | None = None) -> dict:
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=data,
        headers={"Authorization": f"Bearer {api_key}"},
        method="POST" if data is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback http
        return json.loads(answer.read())


def standin_customer(port: int, api_key: str) -> str:
    """One Customer at the stand-in for the seeded bookings' saved card."""
    return standin_call(port, api_key, "/v1/customers", b"email=bench%40example.com")["id"]


def standin_payment_intents(port: int, api_key: str, customer: str) -> list[dict]:
    """Every PaymentIntent the stand-in made for `customer` (all pages)."""
    found: list[dict] = []
    after = ""
    while True:
        page = standin_call(
            port, api_key, f"/v1/payment_intents?customer={customer}&limit=100{after}"
        )
        found += page["data"]
        if not page["has_more"]:
            return found
        after = f"&starting_after={page['data'][-1]['id']}"


def balances_scenario(
    env: dict[str, str], *, standin_port: int, n: int, today: dt.date, out: Path, stamp: str
) -> tuple[list[str], str]:
    """N balances due today, claimed by two `charge_balances` started at the
    same moment and charged off-session by two `db_worker`s: each exactly
    once. Returns (verdicts, timing line)."""
    api_key = env["STRIPE_SECRET_KEY"]
    customer = standin_customer(standin_port, api_key)
    code = (
        f"SLUG = {BENCH_SLUG!r}\nTODAY = {today.isoformat()!r}\nN = {n}\n"
        f"FIRST_DAY = {BALANCE_FIRST_DAY}\nCUSTOMER = {customer!r}\n" + BALANCE_SEED_SCRIPT
    )
    seeded = manage_shell(env, code, "BENCH_BALANCES")
    stripe_env = {
        **env,
        "STRIPE_API_BASE": f"http://127.0.0.1:{standin_port}",
        "STRIPE_API_BASE_ALLOW_ANY": "true",
    }
    workers = [start_worker(stripe_env, out / f"worker-balances-{k}-{stamp}.log") for k in (1, 2)]
    try:
        started = time.monotonic()
        sweeps = [
            subprocess.Popen(
                [sys.executable, "manage.py", "charge_balances", "--json"],
                cwd=ROOT,
                env=stripe_env,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        claims = [json.loads(sweep.communicate()[0])["claimed"] for sweep in sweeps]
        claimed_at = time.monotonic() - started
        pending = wait_outbox_drained(env["DATABASE_URL"], timeout=600)
        elapsed = time.monotonic() - started
        rerun = json.loads(
            subprocess.run(
                [sys.executable, "manage.py", "charge_balances", "--json"],
                cwd=ROOT,
                env=stripe_env,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )["claimed"]
    finally:
        for worker in workers:
            stop(worker)
    db = manage_shell(
        env, f"SLUG = {BENCH_SLUG!r}\n" + BALANCE_VERIFY_SCRIPT, "BENCH_BALANCES_VERIFY"
    )
    intents = standin_payment_intents(standin_port, api_key, customer)
    charges = len(intents)
    per_payment = len({pi["metadata"].get("altar_payment") for pi in intents})
    verdicts: list[str] = []
    check(verdicts, seeded["seeded"] == n, f"balances: {n} deposits seeded, balance due today")
    check(
        verdicts,
        sum(claims) == n and rerun == 0,
        f"balances: two sweeps at once claimed {claims} (sum {n}), a re-run claimed {rerun}",
    )
    check(
        verdicts,
        db["balance_rows"] == db["balance_succeeded"] == db["bookings_charged"] == n
        and db["max_rows_per_booking"] == 1
        and db["fully_paid"] == n,
        f"balances: each of {n} charged exactly once and fully paid (db {json.dumps(db)})",
    )
    check(
        verdicts,
        charges == per_payment == n and all(pi["status"] == "succeeded" for pi in intents),
        f"balances: the stand-in made exactly {n} off-session PaymentIntents, one per "
        f"payment, all succeeded (got {charges} for {per_payment} payments)",
    )
    check(verdicts, pending == 0, f"balances: outbox drained ({pending} pending)")
    timing = (
        f"balances: {n} due at once, 2 sweeps + 2 db_workers: claimed in {claimed_at:.1f} s, "
        f"all charged in {elapsed:.1f} s ({n / elapsed:.0f} balances/s)"
    )
    return verdicts, timing


def main() -> None:
    global BENCH_DB, BIG_DB
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=250, help="GET requests per client")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--checkout-requests",
        type=int,
        default=50,
        help="checkouts per client, each for a different date",
    )
    parser.add_argument("--webhooks", type=int, default=400, help="bookings paid by webhook")
    parser.add_argument("--no-redis", action="store_true", help="local-memory cache/throttles")
    parser.add_argument("--no-worker", action="store_true", help="no db_worker process")
    parser.add_argument(
        "--skip-big", action="store_true", help="skip the 10^4 vs 10^6 bookings availability run"
    )
    parser.add_argument(
        "--db",
        default=BENCH_DB,
        help="benchmark database name (dropped and recreated; also BENCH_DB); "
        "the big run uses NAME_big",
    )
    parser.add_argument("--balances", type=int, default=1000, help="balances due at once (0: skip)")
    parser.add_argument(
        "--only-balances", action="store_true", help="run only the balances scenario"
    )
    args = parser.parse_args()
    BENCH_DB, BIG_DB = args.db, f"{args.db}_big"
    if args.only_balances:
        only_balances(args)
        return
    if args.clients * args.checkout_requests > MAX_CHECKOUTS:
        parser.error(f"clients x checkout-requests must be at most {MAX_CHECKOUTS}")

    env = bench_env()
    if not args.no_redis:
        env["REDIS_URL"] = BENCH_REDIS_URL
        flush_redis(BENCH_REDIS_URL)
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    # The tenant's time zone is UTC (the default), so its "today" is UTC's.
    today = dt.datetime.now(dt.UTC).date()
    checkout_days = args.clients * args.checkout_requests
    contended = today + dt.timedelta(days=CHECKOUT_FIRST_DAY + checkout_days + 10)

    print("Preparing the benchmark database…", flush=True)
    reset_database(env, copy_to=None if args.skip_big else BIG_DB)
    paid = seed(env, today=today, webhooks=args.webhooks)
    hook_path = webhook_endpoint(env)

    standin_port, port, port_b = free_port(), free_port(), free_port()
    api_key = env["STRIPE_SECRET_KEY"]
    standin = start_standin(standin_port, api_key, out / f"standin-{stamp}.log")
    server_env = {
        **env,
        "STRIPE_API_BASE": f"http://127.0.0.1:{standin_port}",
        # Production settings refuse a non-Stripe API base unless told so.
        "STRIPE_API_BASE_ALLOW_ANY": "true",
    }
    server_log = out / f"gunicorn-{stamp}.log"
    servers = [standin]
    if not args.no_worker:
        # The worker calls no Stripe API here; manage.py's checks refuse the
        # stand-in's URL with DEBUG off, so it gets the plain env.
        servers.append(start_worker(env, out / f"worker-{stamp}.log"))
    try:
        servers.append(start_gunicorn(server_env, port, args.workers, server_log))
        key = {"X-Tenant-Key": BENCH_KEY}
        common = dict(clients=args.clients, per_client=args.requests)
        healthz = load("GET /healthz", port, "/healthz", **common)
        print("healthz done", flush=True)
        packages = load(
            "GET /api/v1/packages (warm, 20 packages)",
            port,
            "/api/v1/packages",
            headers=key,
            **common,
        )
        end = today + dt.timedelta(days=AVAILABILITY_DAYS - 1)
        availability = load(
            "GET /api/v1/availability (366 days, 100 bookings, 30 blackouts)",
            port,
            f"/api/v1/availability?start={today.isoformat()}&end={end.isoformat()}",
            headers=key,
            **common,
        )
        print("GETs done", flush=True)

        day = iter(range(CHECKOUT_FIRST_DAY, CHECKOUT_FIRST_DAY + checkout_days))
        checkout_plan = [
            [
                checkout_call(today + dt.timedelta(days=next(day)))
                for _ in range(args.checkout_requests)
            ]
            for _ in range(args.clients)
        ]
        checkouts = drive(
            "POST /api/v1/checkout (distinct dates, stand-in Stripe)", [port], checkout_plan
        )
        print("checkouts done", flush=True)

        servers.append(start_gunicorn(server_env, port_b, args.workers, server_log))
        contention = drive(
            f"POST /api/v1/checkout ({CONTENDERS} at once, one date, 2 gunicorns)",
            [port, port_b],
            # 200 different couples: one couple retrying would get its own
            # hold back (a 201), not date_unavailable.
            [[checkout_call(contended, email=f"couple{n}@example.com")] for n in range(CONTENDERS)],
        )
        stop(servers.pop())
        print("contention done", flush=True)

        webhooks = drive(
            f"POST /stripe/webhook ({args.webhooks} events + 25 % redeliveries)",
            [port],
            webhook_plan(hook_path, paid, args.clients),
        )
        print("webhooks done", flush=True)
        results = [healthz, packages, availability, checkouts, contention, webhooks]
        pending = None if args.no_worker else wait_outbox_drained(env["DATABASE_URL"])
        balance_report: tuple[list[str], str] | None = None
        if args.balances and not args.no_worker:
            print(f"balances: {args.balances} due at once…", flush=True)
            balance_report = balances_scenario(
                env,
                standin_port=standin_port,
                n=args.balances,
                today=today,
                out=out,
                stamp=stamp,
            )
    finally:
        for proc in reversed(servers):
            stop(proc)

    db = verify(env, contended=contended)
    n = args.webhooks
    verdicts: list[str] = []
    codes = json.dumps(contention.error_codes, sort_keys=True)
    check(
        verdicts,
        checkouts.statuses == {201: checkout_days},
        f"checkout: all {checkout_days} distinct-date checkouts answered 201",
    )
    check(
        verdicts,
        contention.statuses.get(201) == 1,
        f"contention: exactly one 201 (got {contention.statuses.get(201, 0)})",
    )
    check(
        verdicts,
        contention.statuses.get(409) == CONTENDERS - 1
        and contention.error_codes.get("date_unavailable") == CONTENDERS - 1,
        f"contention: {CONTENDERS - 1} x 409 date_unavailable "
        f"(got {contention.statuses.get(409, 0)} x 409, codes {codes})",
    )
    check(verdicts, not any(s >= 500 for s in contention.statuses), "contention: zero 5xx")
    check(
        verdicts,
        db["contended_active"] == 1,
        f"contention: exactly 1 active booking on {contended} in the DB "
        f"(got {db['contended_active']})",
    )
    check(
        verdicts,
        webhooks.statuses == {200: webhooks.requests},
        f"webhooks: all {webhooks.requests} deliveries answered 200",
    )
    check(
        verdicts,
        db["webhook_statuses"] == {"confirmed": n} and db["webhook_paid_right"] == n,
        f"webhooks: all {n} bookings confirmed with paid_cents = amount "
        f"(got {db['webhook_statuses']}, {db['webhook_paid_right']} paid right)",
    )
    check(
        verdicts,
        db["events"] == n and db["events_by_status"] == {"processed": n},
        f"webhooks: {n} StripeEvent rows, all processed "
        f"(got {db['events']}, {db['events_by_status']})",
    )
    check(
        verdicts,
        db["events_by_attempts"] == {"1": n},
        f"webhooks: every event processed in exactly 1 attempt (got {db['events_by_attempts']})",
    )
    if pending is not None:
        check(
            verdicts,
            pending == 0 and db["task_statuses"] == {"SUCCESSFUL": db["mail_tasks"]},
            f"outbox: the worker ran every task once it was enqueued "
            f"(statuses {json.dumps(db['task_statuses'], sort_keys=True)}, {pending} pending)",
        )
    server_lines = server_log.read_text().splitlines()
    skipped = sum("no longer exists on Stripe" in line for line in server_lines)
    errors = sum('"level": "ERROR"' in line or "[ERROR]" in line for line in server_lines)
    notes = [
        f"webhooks: outcomes {json.dumps(db['events_outcomes'], sort_keys=True)}; "
        f"{db['triggers']} delivery rows (WebhookEventTrigger); dj-stripe mirror exceptions "
        f"{json.dumps(db['trigger_exceptions'], sort_keys=True)}; task rows {db['mail_tasks']}",
        f"dj-stripe mirror (best effort, after our processing): {skipped} events skipped as "
        "'no longer exists on Stripe' (the stand-in answers 404 for the seeded cs_bench_* "
        "sessions it never created)",
        f"gunicorn log ({errors} lines at ERROR): bench-results/gunicorn-{stamp}.log; "
        f"stand-in log: bench-results/standin-{stamp}.log",
    ]

    mode = (
        f"Mode: {args.workers} gunicorn workers x 4 threads per process (2 processes for "
        f"contention), {'no worker' if args.no_worker else '1 db_worker'}, "
        f"{'local-memory cache' if args.no_redis else 'Redis ' + BENCH_REDIS_URL}; "
        f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} CPUs"
    )
    if balance_report is not None:
        verdicts += balance_report[0]
        notes.append(balance_report[1])
    sections = [mode, "", table(results, healthz), "", *verdicts, "", *notes]
    if not args.skip_big:
        print("Seeding altar_bench_big (10^4 then 10^6 bookings)…", flush=True)
        rows = big_availability(env, today=today, log_path=server_log, workers=args.workers)
        flat = rows[-1].api.pct(50) / rows[0].api.pct(50)
        sections += [
            "",
            "Availability for one tenant (100 bookings, 30 blackouts, 366 days) as the "
            "database grows:",
            "",
            big_table(rows),
            "",
            f"API p50 at {rows[-1].total:,} / at {rows[0].total:,} bookings: {flat:.2f}x",
            "",
            f"Query plan of the occupied-dates query at {rows[-1].total:,} bookings:",
            "```",
            rows[-1].plan,
            "```",
        ]
        check(
            verdicts,
            all(r.api.statuses == {200: r.api.requests} for r in rows),
            "big: every availability request answered 200",
        )
        sections.append(verdicts[-1])
    report = "\n".join(sections)
    print(report)
    (out / f"bench-{stamp}.md").write_text(report + "\n")
    print(f"\nWritten to bench-results/bench-{stamp}.md")
    if any(v.startswith("FAIL") for v in verdicts):
        raise SystemExit(1)


def only_balances(args: argparse.Namespace) -> None:
    env = bench_env()
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    today = dt.datetime.now(dt.UTC).date()
    print(f"Preparing {BENCH_DB}…", flush=True)
    reset_database(env)
    port = free_port()
    standin = start_standin(port, env["STRIPE_SECRET_KEY"], out / f"standin-{stamp}.log")
    try:
        verdicts, timing = balances_scenario(
            env, standin_port=port, n=args.balances, today=today, out=out, stamp=stamp
        )
    finally:
        stop(standin)
    report = "\n".join([timing, *verdicts])
    print(report)
    (out / f"bench-balances-{stamp}.md").write_text(report + "\n")
    if any(v.startswith("FAIL") for v in verdicts):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
