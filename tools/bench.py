"""`make bench`: throughput and latency of the API on loopback, as ratios to /healthz.

Starts gunicorn (production settings, DEBUG off) against a freshly seeded
benchmark database, drives it with a closed-loop load generator (keep-alive
HTTP/1.1 clients in threads, a fixed number of requests each), prints a table
and writes it to bench-results/. Everything stays on 127.0.0.1 and stops by
itself. Figures vary with the machine; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DB = "altar_bench"
BENCH_KEY = "pk_live_" + "BenchTenantPublishableKey".ljust(40, "0")


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies_ms: list[float]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


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
        THROTTLE_RATE_PER_IP="1000000/min",
        STRIPE_SECRET_KEY=env.get("STRIPE_SECRET_KEY", "sk_test_altarStandinLocalOnly000000"),
        LOG_LEVEL="WARNING",
    )
    return env


def reset_database(env: dict[str, str]) -> None:
    import psycopg

    with psycopg.connect("postgres://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {BENCH_DB}")
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)


SEED_SCRIPT = """
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image
from catalog import services as catalog
from tenants.models import ApiKey
from tenants.scoping import tenant_scope
from tenants.services import api_key_issue, tenant_create

created = tenant_create(slug="bench-studio", name="Bench Studio")
tenant = created.tenant
api_key_issue(tenant=tenant, kind=ApiKey.Kind.PUBLISHABLE, key=KEY)

def png(n):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (n * 10 % 255, 80, 120)).save(buffer, "PNG")
    return SimpleUploadedFile(f"photo-{n}.png", buffer.getvalue(), content_type="image/png")

with tenant_scope(tenant):
    for n in range(8):
        catalog.add_on_create(tenant=tenant, slug=f"extra-{n}", title=f"Extra {n}", price_cents=5000 + n)
    for n in range(20):
        catalog.package_create(
            tenant=tenant, slug=f"package-{n}", title=f"Package {n}", price_cents=100000 + n,
            description="A day to remember. " * 5, position=n,
            add_on_slugs=[f"extra-{(n + k) % 8}" for k in range(3)],
        )
        for p in range(2):
            catalog.package_photo_add(tenant=tenant, package_slug=f"package-{n}", image=png(n * 2 + p), alt=f"Photo {p}")
"""


def seed(env: dict[str, str]) -> None:
    code = f"KEY = {BENCH_KEY!r}\n" + SEED_SCRIPT
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, workers: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "config.wsgi:application",
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--worker-class", "gthread", "--threads", "4",
            "--log-level", "warning", "--keep-alive", "5",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return proc
        except OSError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit("gunicorn did not start")


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
    """Closed loop: `clients` keep-alive connections, `per_client` requests each."""
    headers = headers or {}
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def run() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(warmup):
            conn.request("GET", path, headers=headers)
            conn.getresponse().read()
        mine: list[float] = []
        codes: dict[int, int] = {}
        barrier.wait()
        for _ in range(per_client):
            start = time.perf_counter()
            conn.request("GET", path, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append((time.perf_counter() - start) * 1000)
            codes[response.status] = codes.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    return Result(name, clients * per_client, elapsed, latencies, statuses)


def table(results: list[Result], baseline: Result) -> str:
    lines = [
        "| scenario | requests | req/s | p50 ms | p99 ms | ratio to healthz | statuses |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.name} | {r.requests} | {r.rps:.0f} | {r.pct(50):.1f} | {r.pct(99):.1f} "
            f"| {r.rps / baseline.rps:.2f} | {json.dumps(r.statuses, sort_keys=True)} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=250, help="requests per client")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    args = parser.parse_args()

    env = bench_env()
    print("Preparing the benchmark database…", flush=True)
    reset_database(env)
    seed(env)
    port = free_port()
    server = start_gunicorn(env, port, args.workers)
    try:
        key = {"X-Tenant-Key": BENCH_KEY}
        common = dict(clients=args.clients, per_client=args.requests)
        healthz = load("GET /healthz", port, "/healthz", **common)
        packages = load("GET /api/v1/packages (warm, 20 packages)", port, "/api/v1/packages", headers=key, **common)
        results = [healthz, packages]
    finally:
        server.terminate()
        server.wait(timeout=15)

    report = table(results, healthz)
    print(report)
    out = ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.md").write_text(report + "\n")
    print(f"\nWritten to bench-results/bench-{stamp}.md")


if __name__ == "__main__":
    main()
