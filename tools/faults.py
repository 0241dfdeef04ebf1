"""`make faults`: scripted fault runs (issue 6 item 6) with a printed outcome table.

(a) PostgreSQL restarted (stopped for a few seconds, then started) in the
    middle of checkout and webhook load against gunicorn + the Stripe
    stand-in: every failed request must be a 5xx in the contract's error
    shape ({"error": {...}}, no HTML pages), none may hang, /readyz must
    answer 503 during the outage, and after recovery a redelivery of every
    signed event (same ids) must leave each paid booking confirmed exactly
    once.
(b) Redis stopped under load with REDIS_URL set: zero 5xx (cache misses fall
    through to PostgreSQL, throttles degrade); /readyz reports Redis.
(c) A `db_worker` killed with SIGKILL mid-task (a confirmation e-mail whose
    SMTP server stalls): the task stays RUNNING, `requeue_stale_tasks`
    returns it once it is older than --older-than, a new worker runs it and
    the e-mail goes out. Twice: killed before the message left, and killed
    after the SMTP server accepted it but before the task recorded it.

Needs root (or the postgres/redis owners) to stop and start the services;
always restores them. Everything else stays on 127.0.0.1. The database is
altar_faults (migrated once, reused; every run seeds its own tenant).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.bench import (  # noqa: E402 - needs the root on sys.path
    STANDIN_API_VERSION,
    WEBHOOK_SECRET,
    bench_env,
    free_port,
    manage_shell,
    start_gunicorn,
    start_standin,
    stop,
    webhook_endpoint,
)
from tools.stripe_standin import sign_payload  # noqa: E402

FAULTS_DB = "altar_faults"
FAULTS_DB_URL = f"postgres://postgres@127.0.0.1:5432/{FAULTS_DB}"
FAULTS_REDIS_URL = "redis://127.0.0.1:6379/4"
REQUEST_TIMEOUT = 40  # seconds: past gunicorn's 30 s timeout, so a hang shows as one

SEED_SCRIPT = """
import datetime as dt
import json
from django.utils import timezone
from bookings.models import Booking
from bookings.money import commission_for
from catalog import services as catalog
from tenants.models import ApiKey, Tenant
from tenants.scoping import tenant_scope
from tenants.services import api_key_issue, tenant_create

tenant = tenant_create(slug=SLUG, name="Faults Studio", contact_email="studio@example.com").tenant
key = api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE).key
Tenant.objects.filter(pk=tenant.pk).update(max_advance_days=4000, min_notice_days=0)
tenant.refresh_from_db()
today = timezone.now().date()
with tenant_scope(tenant):
    package = catalog.package_create(
        tenant=tenant, slug="package-0", title="Package 0", price_cents=100000
    )
    commission = commission_for(amount_cents=package.price_cents, bps=tenant.commission_bps)
    held = Booking.objects.bulk_create(
        Booking(
            tenant=tenant, package=package, event_date=today + dt.timedelta(days=10 + n),
            couple_name="Fault Couple", email="couple@example.com",
            status=Booking.Status.CONFIRMED if n < CONFIRMED else Booking.Status.HELD,
            confirmed_at=timezone.now() if n < CONFIRMED else None,
            paid_cents=package.price_cents if n < CONFIRMED else 0,
            hold_expires_at=None if n < CONFIRMED else timezone.now() + dt.timedelta(days=1),
            amount_cents=package.price_cents, currency=tenant.currency,
            commission_bps=tenant.commission_bps, commission_cents=commission,
            stripe_checkout_session_id=f"cs_{SLUG}_{n}",
        )
        for n in range(HELD)
    )
print("FAULTS_SEED " + json.dumps({
    "tenant_id": tenant.pk, "key": key,
    "bookings": [[str(b.pk), b.amount_cents, b.stripe_checkout_session_id] for b in held],
}))
"""

VERIFY_SCRIPT = """
import json
from django.db.models import Count, F
from django_tasks_db.models import DBTaskResult
from bookings.models import Booking
from tenants.scoping import scopes_disabled
from webhooks.models import StripeEvent

with scopes_disabled():
    paid = Booking.objects.filter(stripe_checkout_session_id__in=SESSIONS)
    events = StripeEvent.objects.filter(event_id__startswith=EVENT_PREFIX)
    mails = DBTaskResult.objects.filter(
        task_path__endswith="booking_mail_confirmed", args_kwargs__kwargs__booking_id__in=IDS
    )
    checkouts = Booking.objects.filter(tenant__slug=SLUG, event_date__gte=CHECKOUT_FROM)

    def counts(qs, name):
        return {str(k): v for k, v in qs.values_list(name).annotate(n=Count("pk")).order_by()}

    print("FAULTS_VERIFY " + json.dumps({
        "paid_statuses": counts(paid, "status"),
        "paid_right": paid.filter(status="confirmed", paid_cents=F("amount_cents")).count(),
        "events": events.count(),
        "events_by_status": counts(events, "status"),
        "events_by_attempts": counts(events, "attempts"),
        "mail_tasks": mails.count(),
        "mail_tasks_per_booking_max": max(
            counts(mails, "args_kwargs__kwargs__booking_id").values(), default=0
        ),
        "checkout_bookings": counts(checkouts, "status"),
    }))
"""

TASK_SCRIPT = """
import json
from bookings.tasks import booking_mail_confirmed
from django.db import transaction

with transaction.atomic():
    result = booking_mail_confirmed.enqueue(tenant_id=TENANT_ID, booking_id=BOOKING_ID)
print("FAULTS_TASK " + json.dumps(str(result.id)))
"""


# --- helpers ------------------------------------------------------------------


def sh(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


def postgres_up() -> bool:
    return sh("pg_isready", "-h", "127.0.0.1", "-p", "5432", "-t", "1").returncode == 0


def redis_up() -> bool:
    # A write, not PING: a Redis that cannot persist (MISCONF) answers PING
    # but refuses writes.
    return (
        sh("redis-cli", "-h", "127.0.0.1", "-p", "6379", "set", "faults:probe", "1").stdout.strip()
        == "OK"
    )


def wait_for(what: str, ready, timeout: float = 60) -> float:
    started = time.monotonic()
    while not ready():
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{what} did not come back within {timeout} s")
        time.sleep(0.2)
    return time.monotonic() - started


def postgres_stop() -> str:
    done = sh("pg_ctlcluster", "15", "main", "stop", "-m", "fast")
    return f"rc {done.returncode} {done.stderr.strip()[:80]}".strip()


def postgres_start() -> None:
    if sh("pg_ctlcluster", "15", "main", "start").returncode != 0:
        sh("service", "postgresql", "start")
    wait_for("PostgreSQL", postgres_up)


def redis_stop() -> None:
    sh("redis-cli", "-h", "127.0.0.1", "-p", "6379", "shutdown", "nosave")


def redis_start() -> None:
    # As this machine runs it: the packaged config, as the current user (the
    # init script would switch to the redis user, who cannot write the root-
    # owned /var/lib/redis here, and Redis would then refuse writes).
    conf = Path("/etc/redis/redis.conf")
    if conf.exists():
        sh("redis-server", str(conf))
    else:
        sh("redis-server", "--bind", "127.0.0.1", "--port", "6379", "--daemonize", "yes")
    if not _wait_quietly(redis_up, 10):
        sh("service", "redis-server", "start")
    wait_for("Redis", redis_up)


def _wait_quietly(ready, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ready():
            return True
        time.sleep(0.2)
    return False


def ensure_database(env: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [FAULTS_DB]
        ).fetchone()
        if not exists:
            conn.execute(f"CREATE DATABASE {FAULTS_DB}")
    # Applies only what is missing: seconds after the first run.
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


@dataclass
class Tally:
    """Responses of one kind of request: statuses, shapes, worst latency."""

    name: str
    contract: bool = True  # False for /readyz: its 503 body is {"status", "checks"}
    statuses: dict[str, int] = field(default_factory=dict)
    sample: str = ""  # the first error response not in the contract's shape
    not_contract: int = 0  # >= 400 without {"error": {"code": ...}}: an HTML page, say
    codes: dict[str, int] = field(default_factory=dict)
    max_ms: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, status: int, body: bytes, ms: float) -> None:
        code = None
        if status >= 400:
            try:
                code = json.loads(body)["error"]["code"]
            except (ValueError, KeyError, TypeError):
                code = None
        with self.lock:
            self.statuses[str(status)] = self.statuses.get(str(status), 0) + 1
            self.max_ms = max(self.max_ms, ms)
            if status >= 400 and status != 599 and self.contract:
                if code is None:
                    self.not_contract += 1
                    if not self.sample:
                        text = body[:200].decode(errors="replace").split()
                        self.sample = f"{status} {' '.join(text)[:90]}"
                else:
                    self.codes[code] = self.codes.get(code, 0) + 1

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    def count(self, pred) -> int:
        return sum(n for s, n in self.statuses.items() if pred(int(s)))


def request(port: int, method: str, path: str, body: bytes | None, headers: dict[str, str]):
    """One request on a fresh connection (no keep-alive: a restart must not
    leave a client stuck on a dead socket). 599 = no HTTP answer at all."""
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        status, data = response.status, response.read()
    except OSError:
        status, data = 599, b""
    finally:
        conn.close()
    return status, data, (time.perf_counter() - started) * 1000


def event_payload(
    n: int, booking_id: str, amount: int, session: str, prefix: str, tenant: str
) -> bytes:
    return json.dumps(
        {
            "id": f"{prefix}{n}",
            "object": "event",
            "type": "checkout.session.completed",
            "api_version": STANDIN_API_VERSION,
            "created": int(time.time()),
            "livemode": False,
            "data": {
                "object": {
                    "id": session,
                    "object": "checkout.session",
                    "payment_status": "paid",
                    "status": "complete",
                    "amount_total": amount,
                    "currency": "usd",
                    "payment_intent": f"pi_{session}",
                    "client_reference_id": booking_id,
                    "metadata": {"booking_id": booking_id, "tenant": tenant},
                }
            },
        }
    ).encode()


def signed(payload: bytes) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "Stripe-Signature": sign_payload(payload, WEBHOOK_SECRET),
    }


def checkout_body(day: dt.date) -> bytes:
    return json.dumps(
        {
            "package": "package-0",
            "event_date": day.isoformat(),
            "couple_name": "Fault Couple",
            "email": "couple@example.com",
        }
    ).encode()


class Load:
    """Threads that send requests until stopped; a poller on /readyz."""

    def __init__(self) -> None:
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.ready_log: list[tuple[float, int, str]] = []

    def loop(self, tally: Tally, next_call) -> None:
        def run() -> None:
            while not self.stopping.is_set():
                call = next_call()
                if call is None:
                    return
                status, body, ms = request(*call)
                tally.add(status, body, ms)

        self.threads.append(threading.Thread(target=run))

    def poll_ready(self, port: int, tally: Tally) -> None:
        def run() -> None:
            while not self.stopping.is_set():
                sent = time.monotonic()
                status, body, ms = request(port, "GET", "/readyz", None, {})
                tally.add(status, body, ms)
                try:
                    checks = json.dumps(json.loads(body).get("checks", {}), sort_keys=True)
                except ValueError:
                    checks = body[:60].decode(errors="replace")
                self.ready_log.append((sent, status, checks, ms))
                time.sleep(0.25)

        self.threads.append(threading.Thread(target=run))

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join()


def counter_calls(make):
    """A thread-safe supplier of make(0), make(1), ... (None when make says so)."""
    lock = threading.Lock()
    state = {"n": 0}

    def next_call():
        with lock:
            n = state["n"]
            state["n"] += 1
        return make(n)

    return next_call


def row(rows: list[list[str]], scenario: str, check: str, ok: bool, observed: str) -> None:
    rows.append([scenario, check, "PASS" if ok else "FAIL", observed])


def tally_text(t: Tally) -> str:
    codes = f" codes {json.dumps(t.codes, sort_keys=True)}" if t.codes else ""
    return (
        f"{t.name}: {t.total} req {json.dumps(t.statuses, sort_keys=True)}{codes}; "
        f"non-contract errors {t.not_contract}"
        f"{' (first: ' + t.sample + ')' if t.sample else ''}; max {t.max_ms / 1000:.1f} s"
    )


# --- (a) PostgreSQL restart -----------------------------------------------------


def fault_postgres(
    env: dict[str, str], out: Path, stamp: str, rows: list[list[str]], *, outage_s: float
) -> None:
    slug = f"faults-pg-{stamp}"
    events = 240
    seed = manage_shell(
        env,
        f"SLUG = {slug!r}\nHELD = {events}\nCONFIRMED = 0\n" + SEED_SCRIPT,
        "FAULTS_SEED",
    )
    hook_path = webhook_endpoint(env)
    prefix = f"evt_{slug}_"
    payloads = [
        event_payload(n, booking_id, amount, session, prefix, slug)
        for n, (booking_id, amount, session) in enumerate(seed["bookings"])
    ]
    today = dt.datetime.now(dt.UTC).date()
    checkout_from = today + dt.timedelta(days=1000)
    key = {"X-Tenant-Key": seed["key"], "Content-Type": "application/json"}

    standin_port, port = free_port(), free_port()
    standin = start_standin(
        standin_port, env["STRIPE_SECRET_KEY"], out / f"faults-standin-{stamp}.log"
    )
    server_env = {
        **env,
        "STRIPE_API_BASE": f"http://127.0.0.1:{standin_port}",
        # Production settings refuse a non-Stripe API base unless told so.
        "STRIPE_API_BASE_ALLOW_ANY": "true",
    }
    log_path = out / f"faults-gunicorn-{stamp}.log"
    servers = [standin, start_gunicorn(server_env, port, 2, log_path)]
    checkout = Tally("checkout")
    webhook = Tally("webhook (first deliveries)")
    ready = Tally("readyz", contract=False)
    redelivery = Tally("webhook (redelivery after recovery)")
    outage: dict[str, float] = {}
    try:
        load = Load()
        spread = threading.Lock()
        pace = {"next": time.monotonic()}

        def webhook_call(n: int):
            if n >= events:
                return None
            # About 25 events a second, so the deliveries span the outage.
            with spread:
                pace["next"] = max(pace["next"] + 0.04, time.monotonic())
                due = pace["next"]
            time.sleep(max(0.0, due - time.monotonic()))
            return (port, "POST", hook_path, payloads[n], signed(payloads[n]))

        def checkout_call(n: int):
            if n >= 400:
                return None
            time.sleep(0.05)
            body = checkout_body(checkout_from + dt.timedelta(days=n))
            return (port, "POST", "/api/v1/checkout", body, key)

        next_webhook = counter_calls(webhook_call)
        next_checkout = counter_calls(checkout_call)
        # 6 load threads on gunicorn's 2 x 4: the probe is not starved by design.
        for _ in range(3):
            load.loop(webhook, next_webhook)
            load.loop(checkout, next_checkout)
        load.poll_ready(port, ready)
        load.start()
        time.sleep(3)
        outage["stop"] = time.monotonic()
        stopped = postgres_stop()
        outage["stopped_in"] = time.monotonic() - outage["stop"]
        time.sleep(outage_s)
        outage["down_confirmed"] = not postgres_up()
        postgres_start()
        outage["up"] = time.monotonic()
        time.sleep(4)
        load.finish()
        outage["recovered"] = wait_for(
            "readyz 200", lambda: request(port, "GET", "/readyz", None, {})[0] == 200
        )

        # Stripe redelivers what was not acknowledged with a 2xx; we
        # redeliver everything (the same event ids, fresh signatures).
        for payload in payloads:
            status, body, ms = request(port, "POST", hook_path, payload, signed(payload))
            redelivery.add(status, body, ms)
    finally:
        for proc in reversed(servers):
            stop(proc)
        if not postgres_up():
            postgres_start()

    ids = [b[0] for b in seed["bookings"]]
    sessions = [b[2] for b in seed["bookings"]]
    db = manage_shell(
        env,
        f"SESSIONS = {sessions!r}\nIDS = {ids!r}\nEVENT_PREFIX = {prefix!r}\nSLUG = {slug!r}\n"
        f"import datetime as dt\n"
        f"CHECKOUT_FROM = dt.date.fromisoformat({checkout_from.isoformat()!r})\n" + VERIFY_SCRIPT,
        "FAULTS_VERIFY",
    )
    during = [s for t, s, _, _ in load.ready_log if outage["stop"] <= t <= outage["up"]]
    # Each probe: seconds after the stop it was sent, its status, how long it took.
    timeline = " ".join(
        f"{t - outage['stop']:+.1f}s:{s}/{ms / 1000:.1f}s"
        for t, s, _, ms in load.ready_log
        if outage["stop"] - 1 <= t <= outage["up"] + 1
    )
    scenario = "(a) PostgreSQL restart"
    for t in (checkout, webhook):
        row(
            rows,
            scenario,
            f"{t.name}: failures are 5xx in the error shape, no hangs",
            t.not_contract == 0
            and t.count(lambda s: s >= 400 and s < 500 and s != 409) == 0
            and t.count(lambda s: s == 599) == 0
            and t.max_ms < REQUEST_TIMEOUT * 1000,
            tally_text(t),
        )
    row(
        rows,
        scenario,
        f"/readyz answers 503 while PostgreSQL is down ({outage_s:.0f} s)",
        503 in during and ready.not_contract == 0 and ready.count(lambda s: s == 599) == 0,
        f"during the outage {json.dumps({str(s): during.count(s) for s in set(during)})}; "
        f"{tally_text(ready)}; stop ({stopped}) took {outage['stopped_in']:.1f} s, down "
        f"confirmed {outage['down_confirmed']}, up again after {outage['up'] - outage['stop']:.1f}"
        f" s; probes (sent, status/latency): {timeline}",
    )
    row(
        rows,
        scenario,
        f"redelivery of all {events} events answered 200",
        redelivery.statuses == {"200": events},
        tally_text(redelivery),
    )
    row(
        rows,
        scenario,
        f"every paid booking confirmed exactly once ({events})",
        db["paid_statuses"] == {"confirmed": events}
        and db["paid_right"] == events
        and db["events"] == events
        and db["events_by_status"] == {"processed": events}
        and db["mail_tasks"] == events
        and db["mail_tasks_per_booking_max"] == 1,
        f"bookings {db['paid_statuses']}, paid right {db['paid_right']}; StripeEvent "
        f"{db['events']} {db['events_by_status']} attempts {db['events_by_attempts']}; "
        f"confirmation mail tasks {db['mail_tasks']} (max per booking "
        f"{db['mail_tasks_per_booking_max']})",
    )
    created = checkout.count(lambda s: s == 201)
    row(
        rows,
        scenario,
        "checkout: a booking exists for every 201 (5xx may leave a hold behind)",
        sum(db["checkout_bookings"].values()) >= created,
        f"{created} x 201; bookings on those dates {db['checkout_bookings']}",
    )
    html = sum('"level": "ERROR"' in line for line in log_path.read_text().splitlines())
    rows.append([scenario, "gunicorn log lines at ERROR", "info", f"{html} ({log_path.name})"])


# --- (b) Redis stopped ----------------------------------------------------------


def fault_redis(env: dict[str, str], out: Path, stamp: str, rows: list[list[str]]) -> None:
    slug = f"faults-redis-{stamp}"
    seed = manage_shell(
        env, f"SLUG = {slug!r}\nHELD = 5\nCONFIRMED = 5\n" + SEED_SCRIPT, "FAULTS_SEED"
    )
    env = {**env, "REDIS_URL": FAULTS_REDIS_URL}
    today = dt.datetime.now(dt.UTC).date()
    key = {"X-Tenant-Key": seed["key"]}
    standin_port, port = free_port(), free_port()
    standin = start_standin(
        standin_port, env["STRIPE_SECRET_KEY"], out / f"faults-standin-{stamp}.log"
    )
    server_env = {
        **env,
        "STRIPE_API_BASE": f"http://127.0.0.1:{standin_port}",
        # Production settings refuse a non-Stripe API base unless told so.
        "STRIPE_API_BASE_ALLOW_ANY": "true",
    }
    log_path = out / f"faults-gunicorn-redis-{stamp}.log"
    servers = [standin, start_gunicorn(server_env, port, 2, log_path)]
    reads = Tally("GET packages/availability/tenant")
    checkout = Tally("checkout")
    ready = Tally("readyz", contract=False)
    outage: dict[str, float] = {}
    end = today + dt.timedelta(days=365)
    paths = ["/api/v1/packages", f"/api/v1/availability?start={today}&end={end}", "/api/v1/tenant"]
    try:
        load = Load()

        def read_call(n: int):
            time.sleep(0.01)
            return (port, "GET", paths[n % len(paths)], None, key)

        def checkout_call(n: int):
            if n >= 300:
                return None
            time.sleep(0.1)
            body = checkout_body(today + dt.timedelta(days=1000 + n))
            return (
                port,
                "POST",
                "/api/v1/checkout",
                body,
                {**key, "Content-Type": "application/json"},
            )

        next_read, next_checkout = counter_calls(read_call), counter_calls(checkout_call)
        for _ in range(4):
            load.loop(reads, next_read)
        for _ in range(2):
            load.loop(checkout, next_checkout)
        load.poll_ready(port, ready)
        load.start()
        time.sleep(3)
        outage["stop"] = time.monotonic()
        redis_stop()
        time.sleep(6)
        redis_start()
        outage["up"] = time.monotonic()
        time.sleep(3)
        load.finish()
    finally:
        for proc in reversed(servers):
            stop(proc)
        if not redis_up():
            redis_start()
    during = [s for t, s, _, _ in load.ready_log if outage["stop"] + 0.5 <= t <= outage["up"]]
    after = [s for t, s, _, _ in load.ready_log if t > outage["up"] + 1]
    scenario = "(b) Redis stopped"
    for t in (reads, checkout):
        row(
            rows,
            scenario,
            f"{t.name}: zero 5xx, zero errors",
            t.count(lambda s: s >= 400) == 0,
            tally_text(t),
        )
    row(
        rows,
        scenario,
        "/readyz 503 while Redis is down, 200 after",
        bool(during) and set(during) == {503} and bool(after) and set(after) == {200},
        f"during {json.dumps({str(s): during.count(s) for s in set(during)})}, after "
        f"{json.dumps({str(s): after.count(s) for s in set(after)})}; {tally_text(ready)}",
    )
    errors = sum('"level": "ERROR"' in line for line in log_path.read_text().splitlines())
    rows.append([scenario, "gunicorn log lines at ERROR", "info", f"{errors} ({log_path.name})"])


# --- (c) worker killed mid-task ---------------------------------------------------


class SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for Django's backend. The server's `stall` decides
    where a session hangs: "greeting" (before anything), "quit" (after the
    message was accepted), or None."""

    def handle(self) -> None:
        server: StallingSMTP = self.server  # type: ignore[assignment]
        server.connections += 1
        if server.stall == "greeting":
            server.stalled.set()
            server.release.wait()
            return
        self.reply("220 faults ESMTP")
        while line := self.rfile.readline():
            verb = line.decode(errors="replace").strip().split(" ")[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 faults")
            elif verb == "DATA":
                self.reply("354 go ahead")
                message = []
                while (data := self.rfile.readline()) not in (b".\r\n", b".\n", b""):
                    message.append(data)
                server.messages.append(b"".join(message))
                self.reply("250 queued")
            elif verb == "QUIT":
                if server.stall == "quit":
                    server.stalled.set()
                    server.release.wait()
                    return
                self.reply("221 bye")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                self.reply("250 ok")

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")
        self.wfile.flush()


class StallingSMTP(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), SMTPHandler)
        self.stall: str | None = None
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.connections = 0
        self.messages: list[bytes] = []


def task_state(task_id: str) -> tuple[str, str | None]:
    import psycopg

    with psycopg.connect(FAULTS_DB_URL, autocommit=True) as conn:
        status, started = conn.execute(
            "SELECT status, started_at FROM django_tasks_database_dbtaskresult WHERE id = %s",
            [task_id],
        ).fetchone()
    return status, started.isoformat() if started else None


def sql(query: str, params: list) -> list:
    import psycopg

    with psycopg.connect(FAULTS_DB_URL, autocommit=True) as conn:
        cursor = conn.execute(query, params)
        return cursor.fetchall() if cursor.description else []


def requeue(env: dict[str, str]) -> int:
    out = subprocess.run(
        [sys.executable, "manage.py", "requeue_stale_tasks", "--older-than", "1", "--json"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)["requeued"]


def worker(env: dict[str, str], log_path: Path) -> subprocess.Popen:
    with log_path.open("a") as log:
        return subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--interval", "0.2", "--no-startup-delay"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )


def fault_worker(env: dict[str, str], out: Path, stamp: str, rows: list[list[str]]) -> None:
    scenario = "(c) worker SIGKILL mid-task"
    smtp = StallingSMTP()
    threading.Thread(target=smtp.serve_forever, daemon=True).start()
    smtp_env = {**env, "EMAIL_URL": f"smtp://127.0.0.1:{smtp.server_address[1]}"}
    log_path = out / f"faults-worker-{stamp}.log"
    # No worker ran in (a) and (b): their confirmation e-mails (and earlier
    # runs') are still queued here and would muddle the counts.
    sql("DELETE FROM django_tasks_database_dbtaskresult WHERE status <> 'RUNNING'", [])
    try:
        # The e-mails one confirmation sends when nothing fails.
        baseline_slug = f"faults-mail-{stamp}"
        seed = manage_shell(
            env, f"SLUG = {baseline_slug!r}\nHELD = 3\nCONFIRMED = 3\n" + SEED_SCRIPT, "FAULTS_SEED"
        )
        bookings = seed["bookings"]
        proc = worker(smtp_env, log_path)
        try:
            first = manage_shell(
                env,
                f"TENANT_ID = {seed['tenant_id']}\nBOOKING_ID = {bookings[0][0]!r}\n" + TASK_SCRIPT,
                "FAULTS_TASK",
            )
            wait_for("baseline task", lambda: task_state(first)[0] == "SUCCESSFUL", 60)
        finally:
            stop(proc)
        per_confirmation = len(smtp.messages)
        rows.append([scenario, "baseline: e-mails per confirmation", "info", str(per_confirmation)])

        for variant, stall, booking in (
            ("killed before the e-mail left", "greeting", bookings[1]),
            ("killed after the SMTP server accepted it", "quit", bookings[2]),
        ):
            smtp.messages.clear()
            smtp.stall, smtp.stalled, smtp.release = stall, threading.Event(), threading.Event()
            proc = worker(smtp_env, log_path)
            task_id = manage_shell(
                env,
                f"TENANT_ID = {seed['tenant_id']}\nBOOKING_ID = {booking[0]!r}\n" + TASK_SCRIPT,
                "FAULTS_TASK",
            )
            if not smtp.stalled.wait(60):
                raise SystemExit("the worker never reached the SMTP server")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            smtp.release.set()  # let the orphaned SMTP session end
            state_after_kill = task_state(task_id)[0]
            sent_before = len(smtp.messages)
            fresh = requeue(env)  # RUNNING for seconds only: must stay put
            # A minute and more later, as cron would find it.
            sql(
                "UPDATE django_tasks_database_dbtaskresult "
                "SET started_at = started_at - interval '2 minutes' WHERE id = %s",
                [task_id],
            )
            stale = requeue(env)
            smtp.stall = None
            proc = worker(smtp_env, log_path)
            try:
                wait_for(
                    "requeued task",
                    lambda task_id=task_id: task_state(task_id)[0] in ("SUCCESSFUL", "FAILED"),
                )
            finally:
                stop(proc)
            final = task_state(task_id)[0]
            mark = sql(
                "SELECT confirmation_mailed_at IS NOT NULL FROM bookings_booking WHERE id = %s",
                [booking[0]],
            )[0][0]
            rows_for = sql(
                "SELECT count(*) FROM django_tasks_database_dbtaskresult "
                "WHERE args_kwargs->'kwargs'->>'booking_id' = %s",
                [booking[0]],
            )[0][0]
            total = len(smtp.messages)
            row(
                rows,
                scenario,
                f"{variant}: task requeued and run again",
                state_after_kill == "RUNNING"
                and fresh == 0
                and stale == 1
                and final == "SUCCESSFUL",
                f"after kill {state_after_kill}; requeue fresh {fresh}, after 2 min {stale}; "
                f"then {final}; task rows {rows_for}",
            )
            row(
                rows,
                scenario,
                f"{variant}: e-mail effect happens once",
                total == per_confirmation and mark,
                f"{sent_before} e-mail(s) before the kill, {total} in all "
                f"(one confirmation = {per_confirmation}); confirmation_mailed_at set: {mark}"
                + (
                    "; at-least-once by design: bookings/tasks.py _mail() marks after sending"
                    if total > per_confirmation
                    else ""
                ),
            )
    finally:
        smtp.release.set()
        smtp.shutdown()


# --- main -------------------------------------------------------------------------


def table(rows: list[list[str]]) -> str:
    lines = ["| fault | check | outcome | observed |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only", choices=["postgres", "redis", "worker"], action="append", help="repeatable"
    )
    parser.add_argument(
        "--pg-outage",
        type=float,
        default=15,
        help="seconds PostgreSQL stays down; past DB_POOL_TIMEOUT (10 s) requests fail "
        "instead of waiting for it",
    )
    args = parser.parse_args()
    chosen = args.only or ["postgres", "redis", "worker"]

    env = {**bench_env(), "DATABASE_URL": FAULTS_DB_URL, "LOG_LEVEL": "WARNING"}
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    print("Preparing altar_faults…", flush=True)
    ensure_database(env)
    rows: list[list[str]] = []
    try:
        if "postgres" in chosen:
            print("(a) PostgreSQL restart under load…", flush=True)
            fault_postgres(env, out, stamp, rows, outage_s=args.pg_outage)
        if "redis" in chosen:
            print("(b) Redis stopped under load…", flush=True)
            fault_redis(env, out, stamp.replace("-", ""), rows)
        if "worker" in chosen:
            print("(c) worker killed mid-task…", flush=True)
            fault_worker(env, out, stamp.replace("-", ""), rows)
    finally:
        # Whatever happened, leave both services running.
        if not postgres_up():
            postgres_start()
        if not redis_up():
            redis_start()
    services = (
        f"services after the run: PostgreSQL {'up' if postgres_up() else 'DOWN'}, "
        f"Redis {'up' if redis_up() else 'DOWN'}"
    )
    report = "\n".join([table(rows), "", services])
    print(report)
    (out / f"faults-{stamp}.md").write_text(report + "\n")
    print(f"\nWritten to bench-results/faults-{stamp}.md")
    if any(r[2] == "FAIL" for r in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
