"""`make bench`: CPU per request of the API, as ratios to /healthz and a bare DRF view.

Starts gunicorn as deployed (config/gunicorn.py: 2 workers x 4 threads,
access log and INFO logging on, DEBUG off) against a freshly seeded
benchmark database (--database, default altar_bench; dropped and recreated),
its own Redis server and the Stripe stand-in (tools/stripe_standin.py), and
drives it with closed-loop keep-alive HTTP clients. Everything stays on
127.0.0.1 and stops by itself.

What it reports, per scenario (healthz, a bare DRF view, tenant, packages,
366-day availability, checkout, a new webhook event, a duplicate delivery):
- CPU per request: utime+stime read from /proc before and after each run,
  separately for the gunicorn processes, the PostgreSQL backends of their
  connections (application_name altar-bench-web in the bench database), the
  bench's Redis and the stand-in. Unlike wall-clock throughput this barely
  moves with what else the shared machine runs. Scenarios run in rounds (a
  warm-up round, then --runs measured ones), each run's ratio is taken
  against the baselines of its own round, and the table shows the median
  with the min-max spread;
- database round trips per request (ReadyForQuery messages in libpq traces,
  DB_TRACE_DIR) and Redis round trips (MONITOR, commands inside a Lua script
  not counted), in a separate pass against a traced gunicorn, since tracing
  costs CPU;
- the wall-clock table (req/s, p50/p99) of the measured runs, and the
  invariants: 200 checkouts for one date across two gunicorn processes (one
  winner), webhook deliveries with racing redeliveries (every booking
  confirmed exactly once), the outbox drained.
Then, unless --skip-big, availability and checkout CPU for one tenant (1,000
bookings) while <database>_big holds 10^4 and then 10^6 bookings over 1,000
tenants, with the query plans of the statements those requests send.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.stripe_standin import sign_payload  # noqa: E402 - needs the root on sys.path

BENCH_DB = "altar_bench"  # --database (BENCH_DATABASE)
BIG_DB = "altar_bench_big"
BENCH_KEY = "pk_live_" + "BenchTenantPublishableKey".ljust(40, "0")
BENCH_SLUG = "bench-studio"
WEBHOOK_SECRET = "whsec_benchSecret" + "0" * 24
WEBHOOK_UUID = "0b5e7c1a-6d2f-4c3e-9a10-be0c4b3e0001"
CONTENDERS = 200
REDIS_URL = ""  # the bench's own redis-server, started by main()
WEB_APP_NAME = "altar-bench-web"  # application_name of the app's PG connections
MIX_EVENTS = 100  # webhook events whose redeliveries race them (invariants run)
MAX_CHECKOUTS = 1150  # checkout dates: days 1000 to 2160, before the webhooks' (2200 on)
STANDIN_API_VERSION = "2024-06-20"

# Days after today (tenant time zone UTC) for each scenario's dates, so no
# scenario ever meets another's booking.
AVAILABILITY_DAYS = 366  # inclusive range: today .. today + 365
WEBHOOK_FIRST_DAY = 2200
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
        REDIS_URL=REDIS_URL,
        BENCH_BARE_VIEW="true",
        # Logging as deployed: LOG_LEVEL's default (INFO), and
        # config/gunicorn.py's access log.
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
    # config/gunicorn.py as deployed (access log included), into a file that
    # every server appends to. Recycling off: a worker that exits takes its
    # CPU figures with it.
    env = {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{port}",
        "GUNICORN_WORKERS": str(workers),
        "GUNICORN_MAX_REQUESTS": "0",
        # The app's database connections name themselves, so the meter finds
        # their backends (and not the worker's).
        "PGAPPNAME": WEB_APP_NAME,
    }
    with log_path.open("a") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-c",
                "config/gunicorn.py",
                "config.wsgi:application",
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


def checkout_call(day: dt.date, email: str = "couple@example.com", key: str = BENCH_KEY) -> Call:
    body = {
        "package": "package-0",
        "add_ons": ["extra-0"],
        "event_date": day.isoformat(),
        "couple_name": "Bench Couple",
        "email": email,
    }
    headers = {"X-Tenant-Key": key, "Content-Type": "application/json"}
    return Call("POST", "/api/v1/checkout", json.dumps(body).encode(), headers)


def webhook_payload(n: int, booking_id: str, amount: int) -> bytes:
    event = {
        "id": f"evt_bench_{n}",
        "object": "event",
        "type": "checkout.session.completed",
        "api_version": STANDIN_API_VERSION,
        "created": int(time.time()),
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
    return json.dumps(event).encode()


def signed_call(path: str, payload: bytes) -> Call:
    headers = {
        "Content-Type": "application/json",
        "Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET),
    }
    return Call("POST", path, payload, headers)


def webhook_call(path: str, n: int, booking: list) -> Call:
    """A signed checkout.session.completed paying seeded booking n (a
    repeat call is a redelivery: same event id, fresh signature)."""
    return signed_call(path, webhook_payload(n, *booking))


def webhook_plan(path: str, paid: list[tuple[int, list]], clients: int) -> list[list[Call]]:
    """One signed checkout.session.completed per booking, plus a redelivery
    (same event id, fresh signature) of every 4th event, interleaved soon
    after its first delivery, dealt round-robin to the clients - so some
    duplicates race their original on another connection."""
    payloads = [webhook_payload(n, *booking) for n, booking in paid]
    order: list[bytes] = []
    for n, payload in enumerate(payloads):
        order.append(payload)
        if n % 4 == 3:
            order.append(payloads[n - 2])  # the redelivery trails its original by a little
    plan: list[list[Call]] = [[] for _ in range(clients)]
    for i, payload in enumerate(order):
        plan[i % clients].append(signed_call(path, payload))
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


# --- CPU per request, read from /proc ---------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")
COMPONENTS = ("app", "pg", "redis", "standin")


def cpu_ticks(pid: int) -> int | None:
    """utime + stime of a process (all its threads), in clock ticks."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data.rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def child_pids(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                data = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(data.rsplit(")", 1)[1].split()[1]) == parent:
                found.append(int(entry))
    return found


@dataclass
class Sample:
    ticks: dict[str, dict[int, int]]
    redis_calls: int


class Meter:
    """CPU of the processes that serve the benchmark's requests: the gunicorn
    master and workers, the PostgreSQL backends of their connections (by
    application_name, in the bench database: not the worker's, nor anyone
    else's), the bench's own Redis server and the Stripe stand-in."""

    def __init__(
        self, database: str, redis_proc: subprocess.Popen | None, standin: subprocess.Popen
    ):
        import psycopg
        import redis

        self.database = database
        self.redis_proc = redis_proc
        self.standin = standin
        self.gunicorns: list[subprocess.Popen] = []
        self.pg = psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True)
        self.redis = redis.Redis.from_url(REDIS_URL) if redis_proc else None

    def pids(self) -> dict[str, list[int]]:
        app = []
        for proc in self.gunicorns:
            app += [proc.pid, *child_pids(proc.pid)]
        pg = [
            row[0]
            for row in self.pg.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                [self.database, WEB_APP_NAME],
            )
        ]
        return {
            "app": app,
            "pg": pg,
            "redis": [self.redis_proc.pid] if self.redis_proc else [],
            "standin": [self.standin.pid],
        }

    def redis_calls(self) -> int:
        if self.redis is None:
            return 0
        stats = self.redis.info("commandstats")
        return sum(v["calls"] for k, v in stats.items() if k != "cmdstat_info")

    def sample(self) -> Sample:
        ticks = {
            component: {pid: t for pid in pids if (t := cpu_ticks(pid)) is not None}
            for component, pids in self.pids().items()
        }
        return Sample(ticks, self.redis_calls())

    @staticmethod
    def seconds(before: Sample, after: Sample) -> dict[str, float]:
        """CPU seconds per component between two samples (a process that
        appeared in between counts from zero: a new backend or worker)."""
        return {
            component: sum(
                t - before.ticks[component].get(pid, 0) for pid, t in after.ticks[component].items()
            )
            / CLK_TCK
            for component in COMPONENTS
        }


@dataclass
class CpuRun:
    result: Result
    cpu: dict[str, float]  # CPU seconds per component over the run
    redis_calls: int

    def ms(self, component: str) -> float:
        return self.cpu[component] * 1000 / self.result.requests

    @property
    def platform_ms(self) -> float:
        """App + PostgreSQL + Redis: what the platform spends (not Stripe)."""
        return self.ms("app") + self.ms("pg") + self.ms("redis")


@dataclass
class Scenario:
    name: str
    # (clients, requests per client) -> the calls of each client.
    plan: Callable[[int, int], list[list[Call]]]
    per_client: int
    ports: int = 1
    runs: list[CpuRun] = field(default_factory=list)
    db_round_trips: float | None = None
    redis_round_trips: float | None = None


def measured_drive(meter: Meter, scenario: Scenario, port: int, clients: int) -> CpuRun:
    plan = scenario.plan(clients, scenario.per_client)
    before = meter.sample()
    result = drive(scenario.name, [port], plan)
    after = meter.sample()
    return CpuRun(result, Meter.seconds(before, after), after.redis_calls - before.redis_calls)


def trace_round_trips(trace_dir: Path) -> int:
    """Round trips so far over every traced connection: the server ends each
    with ReadyForQuery."""
    return sum(p.read_bytes().count(b"\tReadyForQuery") for p in trace_dir.glob("*.trace"))


class RedisMonitor:
    """Counts the commands clients send to the bench's Redis (MONITOR), not
    those a Lua script runs inside one call: with no pipelining in the app,
    that is its round trips."""

    def __init__(self, url: str):
        import redis

        self.count = 0
        self._monitor = redis.Redis.from_url(url).monitor()
        self._connection = self._monitor.__enter__()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                command = self._connection.next_command()
                ours = command["command"].upper().startswith(("INFO", "PING"))
                if command.get("client_type") != "lua" and not ours:
                    self.count += 1
        except Exception:  # noqa: BLE001 - the monitor connection closed: done
            return

    def close(self) -> None:
        self._monitor.connection.disconnect()


def count_round_trips(
    scenario: Scenario, port: int, trace_dir: Path, meter: Meter, requests: int
) -> None:
    """Round trips per request, in a pass of its own against a gunicorn whose
    connections write libpq traces (tracing costs CPU: never in a measured run)."""
    plan = scenario.plan(1, requests)
    drive("warm", [port], [plan[0][:1]])  # a first request may fill caches
    monitor = RedisMonitor(REDIS_URL)
    time.sleep(0.2)  # MONITOR is on before the first command
    db_before, redis_before = trace_round_trips(trace_dir), monitor.count
    result = drive(scenario.name, [port], [plan[0][1:]])
    time.sleep(0.2)  # the monitor has read the last command
    scenario.db_round_trips = (trace_round_trips(trace_dir) - db_before) / result.requests
    scenario.redis_round_trips = (monitor.count - redis_before) / result.requests
    monitor.close()


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    ordered = sorted(values)
    mid = ordered[len(ordered) // 2]
    return f"{fmt.format(mid)} ({fmt.format(ordered[0])}-{fmt.format(ordered[-1])})"


def cpu_table(scenarios: list[Scenario], healthz: Scenario, bare: Scenario) -> str:
    lines = [
        "| scenario | app ms | PG ms | Redis ms | stand-in ms | platform ms "
        "| ratio to healthz | ratio to bare DRF | DB round trips | Redis round trips |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in scenarios:
        n = len(s.runs)

        def med(component: str, s: Scenario = s, n: int = n) -> str:
            return f"{sorted(r.ms(component) for r in s.runs)[n // 2]:.2f}"

        platform = [r.platform_ms for r in s.runs]
        # Each run's ratio against the baseline measured in the same round.
        to_healthz = [
            h.platform_ms / r.platform_ms for h, r in zip(healthz.runs, s.runs, strict=True)
        ]
        to_bare = [b.platform_ms / r.platform_ms for b, r in zip(bare.runs, s.runs, strict=True)]
        trips = "" if s.db_round_trips is None else f"{s.db_round_trips:.1f}"
        redis = "" if s.redis_round_trips is None else f"{s.redis_round_trips:.1f}"
        lines.append(
            f"| {s.name} | {med('app')} | {med('pg')} | {med('redis')} | {med('standin')} "
            f"| {spread(platform)} | {spread(to_healthz, '{:.3f}')} "
            f"| {spread(to_bare, '{:.3f}')} | {trips} | {redis} |"
        )
    return "\n".join(lines)


def wall_table(scenarios: list[Scenario], healthz: Scenario) -> str:
    """The measured runs' wall-clock figures (moves with the machine's load)."""
    results = []
    for s in scenarios:
        runs = [r.result for r in s.runs]
        pooled = Result(
            s.name,
            sum(r.requests for r in runs),
            sum(r.seconds for r in runs),
            [ms for r in runs for ms in r.latencies_ms],
            {},
            {},
        )
        for r in runs:
            for code, count in r.statuses.items():
                pooled.statuses[code] = pooled.statuses.get(code, 0) + count
            for code, count in r.error_codes.items():
                pooled.error_codes[code] = pooled.error_codes.get(code, 0) + count
        results.append(pooled)
    return table(results, results[scenarios.index(healthz)])


# --- Flat cost as data grows: 10^4 vs 10^6 bookings (separate database) ----

BIG_TENANTS = 1000
BIG_KEY = "pk_live_" + "BenchBigTenantPublishableKey".ljust(40, "0")
BIG_SIZES = (10_000, 1_000_000)
MEASURED_BOOKINGS = 1000  # the measured tenant's, at both sizes
BIG_CHECKOUT_FIRST_DAY = 2000

BIG_SEED_SCRIPT = """
import json
from catalog import services as catalog
from catalog.models import Package
from tenants.models import ApiKey, Tenant
from tenants.scoping import tenant_scope
from tenants.services import api_key_issue, tenant_create

# The measured tenant through the services (it needs a real API key and a
# bookable package); the other 999 in bulk: they only have to exist and own
# bookings.
measured = tenant_create(slug="big-0000", name="Big 0").tenant
api_key_issue(tenant=measured, kind=ApiKey.Kind.PUBLISHABLE, key=KEY)
Tenant.objects.filter(pk=measured.pk).update(max_advance_days=4000, min_notice_days=0)
with tenant_scope(measured):
    catalog.add_on_create(tenant=measured, slug="extra-0", title="Extra 0", price_cents=5000)
    catalog.package_create(
        tenant=measured, slug="package-0", title="Package 0", price_cents=100000,
        add_on_slugs=["extra-0"],
    )
others = Tenant.objects.bulk_create(
    Tenant(slug=f"big-{n:04d}", name=f"Big {n}") for n in range(1, TENANTS)
)
Package.objects.bulk_create(
    Package(tenant=t, slug="package-0", title="Package 0", price_cents=100000) for t in others
)
print("BENCH_BIG " + json.dumps(measured.pk))
"""

# Bookings straight in SQL (INSERT ... SELECT generate_series): seconds for a
# million rows, where the ORM would take minutes. Tenant by tenant, bookings
# k = lo .. hi-1 on distinct dates `step` days apart from `first`; a third
# canceled, the rest confirmed.
BIG_INSERT_SQL = """
INSERT INTO bookings_booking (
    id, tenant_id, package_id, event_date, couple_name, email, phone, notes, status,
    hold_expires_at, amount_cents, currency, commission_bps, commission_cents, paid_cents,
    refunded_cents, commission_refunded_cents, stripe_checkout_session_id,
    stripe_payment_intent_id, stripe_account_id, checkout_url, created_at, updated_at,
    confirmed_at, canceled_at, expired_at, cancel_reason, confirmation_mailed_at,
    cancellation_mailed_at, expire_reason, hold_client_key, hold_email_key, language)
SELECT gen_random_uuid(), p.tenant_id, p.id, %(first)s::date + %(step)s * k, 'Seed Couple',
    'seed@example.com', '', '', CASE WHEN k %% 3 = 0 THEN 'canceled' ELSE 'confirmed' END,
    NULL, 100000, 'usd', 1000, 10000, 100000, 0, 0, NULL, NULL, '', '', now(), now(),
    CASE WHEN k %% 3 = 0 THEN NULL ELSE now() END, CASE WHEN k %% 3 = 0 THEN now() END,
    NULL, '', NULL, NULL, '', '', '', 'en'
FROM catalog_package p CROSS JOIN generate_series(%(lo)s, %(hi)s - 1) AS k
WHERE p.tenant_id {op} %(measured)s
"""

BIG_BLACKOUT_SQL = """
INSERT INTO bookings_blackoutdate (tenant_id, date, reason, created_at)
SELECT %(measured)s, %(first)s::date + 12 * k, 'Bench', now() FROM generate_series(0, 29) AS k
"""

# The plans of the queries whose cost could grow with the table: the
# availability range read, and checkout's overlap check and hold counts
# (run as the app runs them, captured from a traced request).
BIG_PLAN_SCRIPT = """
import datetime as dt
import json
from django.db import connection
from django.utils import timezone
from bookings.selectors import occupying_bookings
from tenants.models import Tenant
from tenants.scoping import tenant_scope

tenant = Tenant.objects.get(slug="big-0000")
start = dt.date.fromisoformat(START)
plans = {}
with tenant_scope(tenant), connection.cursor() as cursor:
    for name, sql, params in QUERIES:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plans[name] = "\\n".join(row[0] for row in cursor.fetchall())
print("BENCH_PLANS " + json.dumps(plans))
"""


@dataclass
class BigRow:
    total: int
    scenarios: list[Scenario]
    plans: dict[str, str]


def traced_statements(trace_dir: Path) -> list[str]:
    """The SQL texts a traced pass sent: simple Query messages (client-side
    binding) or Parse messages (server-side binding: "name" "sql" ...)."""
    # libpq prints the SQL between quotes without escaping the quotes in it.
    parse = re.compile(r'^ "[^"]*" "(.*)" [\d ]+$')
    query = re.compile(r'^ "(.*)"$')
    texts = []
    for p in trace_dir.glob("*.trace"):
        for line in p.read_text(errors="replace").splitlines():
            parts = line.split("\t")
            if len(parts) < 4 or parts[0] != "F" or parts[2] not in ("Query", "Parse"):
                continue
            found = (parse if parts[2] == "Parse" else query).match(parts[3])
            if found:
                texts.append(found.group(1))
    return texts


def big_database(
    env: dict[str, str], *, today: dt.date, log_path: Path, args, meter_for, trace_dir: Path
) -> list[BigRow]:
    """Availability (366 days) and checkout for one tenant with 1,000 bookings
    while the database holds 10^4, then 10^6 bookings over 1,000 tenants."""
    import psycopg

    # reset_database() made BIG_DB a copy of the freshly migrated BENCH_DB.
    big_env = {**env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BIG_DB}"}
    code = f"KEY = {BIG_KEY!r}\nTENANTS = {BIG_TENANTS}\n" + BIG_SEED_SCRIPT
    measured_pk = manage_shell(big_env, code, "BENCH_BIG")
    others = BIG_TENANTS - 1
    first_other = today - dt.timedelta(days=300)
    rows: list[BigRow] = []
    checkout_days = iter(range(BIG_CHECKOUT_FIRST_DAY, BIG_CHECKOUT_FIRST_DAY + 100_000))
    with psycopg.connect(big_env["DATABASE_URL"], autocommit=True) as conn:
        # The measured tenant: 1,000 bookings one day apart from 600 days
        # ago (366 of them in the measured range), 30 blackouts.
        params = {"measured": measured_pk, "first": today - dt.timedelta(days=600), "step": 1}
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
            conn.execute("VACUUM ANALYZE bookings_booking")
            done = per_tenant
            total = conn.execute("SELECT count(*) FROM bookings_booking").fetchone()[0]
            print(f"seeded {total} bookings in {time.perf_counter() - started:.1f} s", flush=True)
            rows.append(
                measure_big(
                    big_env,
                    today=today,
                    total=total,
                    log_path=log_path,
                    args=args,
                    meter_for=meter_for,
                    trace_dir=trace_dir,
                    checkout_days=checkout_days,
                )
            )
    return rows


def measure_big(
    env, *, today, total, log_path, args, meter_for, trace_dir, checkout_days
) -> BigRow:
    end = today + dt.timedelta(days=AVAILABILITY_DAYS - 1)
    key = {"X-Tenant-Key": BIG_KEY}
    availability = Scenario(
        f"availability at {total:,} bookings",
        get_plan(f"/api/v1/availability?start={today}&end={end}", key),
        args.requests // 2,
    )

    def checkout_plan(clients: int, per: int) -> list[list[Call]]:
        return [
            [
                checkout_call(today + dt.timedelta(days=next(checkout_days)), key=BIG_KEY)
                for _ in range(per)
            ]
            for _ in range(clients)
        ]

    checkout = Scenario(f"checkout at {total:,} bookings", checkout_plan, args.checkout_requests)
    scenarios = [availability, checkout]
    port = free_port()
    meter = meter_for(BIG_DB)
    server = start_gunicorn(env, port, args.workers, log_path)
    meter.gunicorns = [server]
    try:
        for round_ in range(args.runs + 1):  # round 0 warms up, unreported
            for s in scenarios:
                run = measured_drive(meter, s, port, args.clients)
                if round_:
                    s.runs.append(run)
    finally:
        stop(server)
    # The statements a traced request of each kind sends, explained as sent.
    for old in trace_dir.glob("*.trace"):
        old.unlink()
    traced_env = {**env, "DB_TRACE_DIR": str(trace_dir)}
    port = free_port()
    server = start_gunicorn(traced_env, port, 1, log_path)
    meter.gunicorns = [server]
    try:
        for s in scenarios:
            count_round_trips(s, port, trace_dir, meter, 11)
    finally:
        stop(server)
    meter.pg.close()
    return BigRow(total, scenarios, big_plans(env, trace_dir))


PLAN_WORTHY = re.compile(r"\bFROM \"?bookings_(booking|blackoutdate)\b", re.IGNORECASE)


def big_plans(env: dict[str, str], trace_dir: Path) -> dict[str, str]:
    """The plan of each distinct SELECT on bookings or blackouts that the
    traced requests sent: EXPLAIN ANALYZE when its literals are inline, the
    generic plan (EXPLAIN EXECUTE with NULLs under force_generic_plan: the
    index choice, not timings) when it has $n parameters."""
    import psycopg

    seen: dict[str, str] = {}
    for sql in traced_statements(trace_dir):
        if not PLAN_WORTHY.search(sql) or not sql.lstrip().upper().startswith("SELECT"):
            continue
        shape = re.sub(r"'[^']*'|\$\d+|\b\d+\b", "?", sql)
        seen.setdefault(shape, sql)
    plans = {}
    with psycopg.connect(env["DATABASE_URL"], autocommit=True) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        for n, sql in enumerate(seen.values()):
            params = len(set(re.findall(r"\$(\d+)", sql)))
            try:
                if params:
                    conn.execute(f"PREPARE bench_plan_{n} AS {sql}")
                    nulls = ", ".join(["NULL"] * params)
                    rows = conn.execute(f"EXPLAIN EXECUTE bench_plan_{n}({nulls})").fetchall()
                else:
                    rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}").fetchall()
            except psycopg.Error as exc:
                plans[sql] = f"(not explained: {type(exc).__name__}: {exc})"
                continue
            plans[sql] = "\n".join(row[0] for row in rows)
    return plans


def get_plan(path: str, headers: dict[str, str] | None = None):
    call = Call("GET", path, headers=headers or {})

    def plan(clients: int, per: int) -> list[list[Call]]:
        return [[call] * per for _ in range(clients)]

    return plan


def start_redis(port: int, log_path: Path) -> subprocess.Popen:
    """The bench's own Redis (no persistence): its CPU and command counts are
    this benchmark's alone, and nobody else's database is flushed."""
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    wait_listening(port, proc, "redis-server", None)
    return proc


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
    global BENCH_DB, BIG_DB, REDIS_URL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database",
        default=os.environ.get("BENCH_DATABASE") or os.environ.get("BENCH_DB") or "altar_bench",
        help="bench database name (dropped and recreated; <name>_big too)",
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs per scenario")
    parser.add_argument("--requests", type=int, default=150, help="GET requests per client")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument(
        "--checkout-requests",
        type=int,
        default=30,
        help="checkouts per client per run, each for a different date",
    )
    parser.add_argument(
        "--webhook-requests", type=int, default=30, help="new events per client per run"
    )
    parser.add_argument("--no-worker", action="store_true", help="no db_worker process")
    parser.add_argument(
        "--skip-big", action="store_true", help="skip the 10^4 vs 10^6 bookings runs"
    )
    parser.add_argument(
        "--big-only",
        action="store_true",
        help="only the 10^4 vs 10^6 runs, reusing <database>_big's schema (flushed, migrated)",
    )
    parser.add_argument("--balances", type=int, default=1000, help="balances due at once (0: skip)")
    parser.add_argument(
        "--only-balances", action="store_true", help="run only the balances scenario"
    )
    args = parser.parse_args()
    if not re.fullmatch(r"altar_\w+", args.database):
        parser.error("--database must look like altar_<name>")
    BENCH_DB, BIG_DB = args.database, f"{args.database}_big"
    if args.only_balances:
        only_balances(args)
        return
    rounds = args.runs + 1  # round 0 warms every cache and pool up, unreported
    count_requests = 21  # per scenario in the traced pass (the first is a warm-up)
    checkout_days = rounds * args.clients * args.checkout_requests + count_requests
    if checkout_days > MAX_CHECKOUTS:
        parser.error(f"too many checkouts (at most {MAX_CHECKOUTS} dates)")
    webhooks_needed = rounds * args.clients * args.webhook_requests + count_requests + MIX_EVENTS

    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    trace_dir = out / f"traces-{stamp}"
    trace_dir.mkdir()
    redis_port = free_port()
    redis_proc = start_redis(redis_port, out / f"redis-{stamp}.log")
    REDIS_URL = f"redis://127.0.0.1:{redis_port}/0"
    env = bench_env()
    # The tenant's time zone is UTC (the default), so its "today" is UTC's.
    today = dt.datetime.now(dt.UTC).date()
    contended = today + dt.timedelta(days=CHECKOUT_FIRST_DAY + checkout_days + 10)

    if args.big_only:
        big_only(args, env, today, out, stamp, redis_proc, trace_dir)
        return
    print(f"Preparing the benchmark database {BENCH_DB}…", flush=True)
    servers: list[subprocess.Popen] = [redis_proc]
    try:
        reset_database(env, copy_to=None if args.skip_big else BIG_DB)
        paid = seed(env, today=today, webhooks=webhooks_needed)
        hook_path = webhook_endpoint(env)

        standin_port, port, port_b = free_port(), free_port(), free_port()
        api_key = env["STRIPE_SECRET_KEY"]
        standin = start_standin(standin_port, api_key, out / f"standin-{stamp}.log")
        servers.append(standin)
        server_env = {
            **env,
            "STRIPE_API_BASE": f"http://127.0.0.1:{standin_port}",
            # Production settings refuse a non-Stripe API base unless told so.
            "STRIPE_API_BASE_ALLOW_ANY": "true",
        }

        def meter_for(database: str) -> Meter:
            return Meter(database, redis_proc, standin)

        server_log = out / f"gunicorn-{stamp}.log"
        if not args.no_worker:
            # The worker calls no Stripe API here; manage.py's checks refuse the
            # stand-in's URL with DEBUG off, so it gets the plain env.
            servers.append(start_worker(env, out / f"worker-{stamp}.log"))
        key = {"X-Tenant-Key": BENCH_KEY}
        days = iter(range(CHECKOUT_FIRST_DAY, CHECKOUT_FIRST_DAY + checkout_days))
        events = iter(enumerate(paid))
        last_new: list[list] = []

        def checkout_plan(clients: int, per: int) -> list[list[Call]]:
            return [
                [checkout_call(today + dt.timedelta(days=next(days))) for _ in range(per)]
                for _ in range(clients)
            ]

        def new_events_plan(clients: int, per: int) -> list[list[Call]]:
            batch = [next(events) for _ in range(clients * per)]
            last_new[:] = batch
            calls = [webhook_call(hook_path, n, b) for n, b in batch]
            return [calls[i::clients] for i in range(clients)]

        def duplicates_plan(clients: int, per: int) -> list[list[Call]]:
            # Fresh signatures of the events the previous scenario delivered.
            calls = [webhook_call(hook_path, n, b) for n, b in last_new[: clients * per]]
            return [calls[i::clients] for i in range(clients)]

        end = today + dt.timedelta(days=AVAILABILITY_DAYS - 1)
        healthz = Scenario("GET /healthz", get_plan("/healthz"), args.requests)
        bare = Scenario("GET bare DRF view", get_plan("/api/_bench/bare"), args.requests)
        scenarios = [
            healthz,
            bare,
            Scenario("GET /api/v1/tenant", get_plan("/api/v1/tenant", key), args.requests),
            Scenario(
                "GET /api/v1/packages (warm, 20 packages)",
                get_plan("/api/v1/packages", key),
                args.requests,
            ),
            Scenario(
                "GET /api/v1/availability (366 days, 100 bookings, 30 blackouts)",
                get_plan(f"/api/v1/availability?start={today}&end={end}", key),
                args.requests // 2,
            ),
            Scenario(
                "POST /api/v1/checkout (distinct dates, stand-in Stripe)",
                checkout_plan,
                args.checkout_requests,
            ),
            Scenario(
                "POST /stripe/webhook (new checkout.session.completed)",
                new_events_plan,
                args.webhook_requests,
            ),
            Scenario(
                "POST /stripe/webhook (duplicate delivery)",
                duplicates_plan,
                args.webhook_requests,
            ),
        ]

        print("CPU runs…", flush=True)
        gunicorn = start_gunicorn(server_env, port, args.workers, server_log)
        servers.append(gunicorn)
        meter = meter_for(BENCH_DB)
        meter.gunicorns = [gunicorn]
        # Rounds of every scenario in turn, so a change in the machine's
        # load touches every scenario alike; each run's ratio is against
        # the baselines of its own round.
        for round_ in range(rounds):
            for s in scenarios:
                run = measured_drive(meter, s, port, args.clients)
                if round_:
                    s.runs.append(run)
            print(f"round {round_} done", flush=True)

        servers.append(start_gunicorn(server_env, port_b, args.workers, server_log))
        contention = drive(
            f"POST /api/v1/checkout ({CONTENDERS} at once, one date, 2 gunicorns)",
            [port, port_b],
            # 200 different couples: one couple retrying would get its own
            # hold back (a 201), not date_unavailable.
            [[checkout_call(contended, email=f"couple{n}@example.com")] for n in range(CONTENDERS)],
        )
        stop(servers.pop())
        mix = drive(
            f"POST /stripe/webhook ({MIX_EVENTS} events + 25 % redeliveries racing them)",
            [port],
            webhook_plan(hook_path, [next(events) for _ in range(MIX_EVENTS)], args.clients),
        )
        print("contention and racing redeliveries done", flush=True)
        stop(servers.pop())  # the measured gunicorn

        # Round trips, in a pass of its own (tracing costs CPU).
        traced = start_gunicorn({**server_env, "DB_TRACE_DIR": str(trace_dir)}, port, 1, server_log)
        servers.append(traced)
        for s in scenarios:
            count_round_trips(s, port, trace_dir, meter, count_requests)
        stop(servers.pop())
        meter.pg.close()
        pending = None if args.no_worker else wait_outbox_drained(env["DATABASE_URL"])
        if not args.no_worker:
            stop(servers.pop())

        db = verify(env, contended=contended)
        verdicts = invariants(db, scenarios, contention, mix, pending, webhooks_needed)
        server_lines = server_log.read_text().splitlines()
        errors = sum('"level": "ERROR"' in line or "[ERROR]" in line for line in server_lines)
        notes = [
            f"webhooks: outcomes {json.dumps(db['events_outcomes'], sort_keys=True)}; "
            f"{db['triggers']} delivery rows (WebhookEventTrigger); task rows {db['mail_tasks']}",
            f"gunicorn log ({len(server_lines)} lines, {errors} at ERROR): "
            f"bench-results/gunicorn-{stamp}.log; stand-in log: bench-results/standin-{stamp}.log",
        ]
        mode = (
            f"Mode: {args.workers} gunicorn workers x 4 threads (config/gunicorn.py, logging "
            "as deployed, worker recycling off), "
            f"{'no worker' if args.no_worker else '1 db_worker'}, "
            f"the bench's own Redis; {args.runs} measured rounds after a warm-up round; "
            f"{time.strftime('%Y-%m-%d %H:%M')} on {os.cpu_count()} CPUs, load "
            f"{os.getloadavg()[0]:.1f}"
        )
        sections = [
            mode,
            "",
            "CPU per request, ms (median of the runs; platform = app + PG + Redis, with "
            "min-max over the runs; ratios: the baseline's platform CPU over the "
            "scenario's, per round):",
            "",
            cpu_table(scenarios, healthz, bare),
            "",
            "Wall clock (all measured runs pooled; moves with the machine's load):",
            "",
            wall_table(scenarios, healthz),
            "",
            table([contention, mix], healthz.runs[-1].result),
            "",
            *verdicts,
            "",
            *notes,
        ]
        report_path = out / f"bench-{stamp}.md"
        # Written now too: the big runs take long and must not lose it.
        report_path.write_text("\n".join(sections) + "\n")
        if not args.skip_big:
            print(f"Seeding {BIG_DB} (10^4 then 10^6 bookings)…", flush=True)
            rows = big_database(
                server_env,
                today=today,
                log_path=server_log,
                args=args,
                meter_for=meter_for,
                trace_dir=trace_dir,
            )
            sections += big_sections(rows, healthz)
            verdicts += sections[-1:]
    finally:
        for proc in reversed(servers):
            stop(proc)
    report = "\n".join(sections)
    print(report)
    (out / f"bench-{stamp}.md").write_text(report + "\n")
    print(f"\nWritten to bench-results/bench-{stamp}.md")
    if any(v.startswith("FAIL") for v in verdicts):
        raise SystemExit(1)
    if args.balances and not args.no_worker:
        # Its own phase on a fresh database: N balances due at once, two
        # sweeps and two workers, each charged exactly once.
        print(f"balances: {args.balances} due at once…", flush=True)
        only_balances(args)


def big_only(args, env, today, out, stamp, redis_proc, trace_dir) -> None:
    """The growth runs alone, on an existing <database>_big (a previous
    run's): emptied and migrated, which takes seconds instead of minutes."""
    big_env = {**env, "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{BIG_DB}"}
    servers: list[subprocess.Popen] = [redis_proc]
    try:
        for command in (["flush", "--no-input"], ["migrate", "-v0"]):
            subprocess.run(
                [sys.executable, "manage.py", *command], cwd=ROOT, env=big_env, check=True
            )
        standin_port = free_port()
        standin_log = out / f"standin-{stamp}.log"
        standin = start_standin(standin_port, env["STRIPE_SECRET_KEY"], standin_log)
        servers.append(standin)
        server_env = {
            **env,
            "STRIPE_API_BASE": f"http://127.0.0.1:{standin_port}",
            "STRIPE_API_BASE_ALLOW_ANY": "true",
        }
        rows = big_database(
            server_env,
            today=today,
            log_path=out / f"gunicorn-{stamp}.log",
            args=args,
            meter_for=lambda database: Meter(database, redis_proc, standin),
            trace_dir=trace_dir,
        )
    finally:
        for proc in reversed(servers):
            stop(proc)
    report = "\n".join(big_sections(rows, None))
    print(report)
    (out / f"bench-big-{stamp}.md").write_text(report + "\n")
    print(f"\nWritten to bench-results/bench-big-{stamp}.md")


def big_sections(rows: list[BigRow], healthz: Scenario | None) -> list[str]:
    lines = [
        "",
        "As the database grows (1,000 tenants; the measured tenant has 1,000 bookings, "
        "366 in the availability range, and 30 blackouts):",
        "",
        "| scenario | platform ms | app ms | PG ms | DB round trips | statuses |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for row in rows:
        for s in row.scenarios:
            statuses: dict[int, int] = {}
            for r in s.runs:
                for code, n in r.result.statuses.items():
                    statuses[code] = statuses.get(code, 0) + n
            n = len(s.runs)
            lines.append(
                f"| {s.name} | {spread([r.platform_ms for r in s.runs])} "
                f"| {sorted(r.ms('app') for r in s.runs)[n // 2]:.2f} "
                f"| {sorted(r.ms('pg') for r in s.runs)[n // 2]:.2f} "
                f"| {s.db_round_trips:.1f} | {json.dumps(statuses, sort_keys=True)} |"
            )
    lines.append("")
    ok = True
    for index in range(len(rows[0].scenarios)):
        small, big = rows[0].scenarios[index], rows[-1].scenarios[index]

        def median(s: Scenario) -> float:
            return sorted(r.platform_ms for r in s.runs)[len(s.runs) // 2]

        growth = median(big) / median(small)
        ok = ok and growth <= 1.2
        lines.append(f"{big.name} / {small.name}: {growth:.2f}x platform CPU")
    lines += ["", f"Query plans at {rows[-1].total:,} bookings:"]
    for sql, plan in rows[-1].plans.items():
        lines += ["```", sql, plan, "```"]
    all_ok = all(
        r.result.statuses == {(200 if "availability" in s.name else 201): r.result.requests}
        for row in rows
        for s in row.scenarios
        for r in s.runs
    )
    lines.append(
        f"{'PASS' if ok and all_ok else 'FAIL'} big: cost at 10^6 within 1.2x of 10^4, "
        "every request answered 200/201"
    )
    return lines


def invariants(db, scenarios, contention, mix, pending, expected_events) -> list[str]:
    verdicts: list[str] = []
    checkout = next(s for s in scenarios if "checkout" in s.name)
    new = next(s for s in scenarios if "new checkout.session" in s.name)
    dup = next(s for s in scenarios if "duplicate" in s.name)
    sent = sum(r.result.requests for r in checkout.runs)
    check(
        verdicts,
        all(r.result.statuses == {201: r.result.requests} for r in checkout.runs),
        f"checkout: all {sent} measured distinct-date checkouts answered 201",
    )
    for s in scenarios:
        if s not in (checkout, new, dup):
            check(
                verdicts,
                all(r.result.statuses == {200: r.result.requests} for r in s.runs),
                f"{s.name}: every request answered 200",
            )
    codes = json.dumps(contention.error_codes, sort_keys=True)
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
    check(
        verdicts,
        db["contended_active"] == 1,
        f"contention: exactly 1 active booking on the contended date in the DB "
        f"(got {db['contended_active']})",
    )
    deliveries = [r.result for s in (new, dup) for r in s.runs] + [mix]
    check(
        verdicts,
        all(r.statuses == {200: r.requests} for r in deliveries),
        "webhooks: every delivery (new, duplicate, racing redelivery) answered 200",
    )
    n = db["events"]
    check(
        verdicts,
        n == expected_events
        and db["events_by_status"] == {"processed": n}
        and db["events_by_attempts"] == {"1": n}
        and db["webhook_statuses"].get("confirmed") == n
        and db["webhook_paid_right"] == n,
        f"webhooks: {n} events, each processed in exactly 1 attempt and its booking "
        f"confirmed once with paid_cents = amount (statuses {db['webhook_statuses']}, "
        f"{db['webhook_paid_right']} paid right)",
    )
    if pending is not None:
        check(
            verdicts,
            pending == 0 and db["task_statuses"] == {"SUCCESSFUL": db["mail_tasks"]},
            f"outbox: the worker ran every task once it was enqueued "
            f"(statuses {json.dumps(db['task_statuses'], sort_keys=True)}, {pending} pending)",
        )
    return verdicts


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
