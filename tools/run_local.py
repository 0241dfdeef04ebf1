"""`make run`: the platform on 127.0.0.1:8000, migrated, with demo data, ready to book.

Steps: check PostgreSQL, create the database if missing, migrate, seed the
demo tenant, start the Stripe stand-in on loopback (Stripe is unreachable
here; the stand-in serves its API and sends signed webhooks back), record the
webhook endpoints, start the outbox worker, then serve. Ctrl-C stops
everything.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/altar"
HOST, PORT = "127.0.0.1", 8000
STANDIN_PORT = 12111
# Local-only secrets: the stand-in and the platform share them; nothing real.
LOCAL_STRIPE_KEY = "sk_test_altarStandinLocalOnly000000"
LOCAL_WEBHOOK_SECRET = "whsec_altarLocalStandinPlatform0000000000"
LOCAL_CONNECT_WEBHOOK_SECRET = "whsec_altarLocalStandinConnect00000000000"


def fail(message: str) -> None:
    print(message, file=sys.stderr)
    sys.exit(1)


def ensure_database(database_url: str) -> None:
    import psycopg

    url = urlparse(database_url)
    name = url.path.lstrip("/")
    try:
        conn = psycopg.connect(
            host=url.hostname or "127.0.0.1",
            port=url.port or 5432,
            user=url.username or "postgres",
            password=url.password,
            dbname="postgres",
            autocommit=True,
            connect_timeout=3,
        )
    except psycopg.OperationalError:
        fail(
            f"PostgreSQL is not reachable at {url.hostname}:{url.port or 5432}: start it "
            "(e.g. `pg_ctlcluster 15 main start`) or set DATABASE_URL to a reachable server."
        )
    with conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"Created database {name}.")


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True)


def main() -> None:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    env.setdefault("DJANGO_DEBUG", "true")
    env.setdefault("PUBLIC_BASE_URL", f"http://{HOST}:{PORT}")
    env.setdefault("STRIPE_SECRET_KEY", LOCAL_STRIPE_KEY)
    env.setdefault("STRIPE_API_BASE", f"http://127.0.0.1:{STANDIN_PORT}")
    ensure_database(env["DATABASE_URL"])
    print("Migrating (the first run takes about a minute)…", flush=True)
    manage("migrate", "--no-input", "-v0", env=env)
    manage("seed_demo", env=env)

    children: list[subprocess.Popen] = []
    try:
        children.append(start_standin(env))
        # The outbox worker: confirmation e-mails (printed on this console)
        # and refunds the platform owes run here, after commit.
        children.append(
            subprocess.Popen(
                [sys.executable, "manage.py", "db_worker", "--interval", "1"], cwd=ROOT, env=env
            )
        )
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
            cwd=ROOT,
            env=env,
        )
        children.append(server)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.terminate()
        for child in children:
            child.wait(timeout=10)


def start_standin(env: dict[str, str]) -> subprocess.Popen:
    """The stand-in, delivering signed webhooks to the two endpoints recorded
    here (idempotently: the same secret gives the same path every run)."""
    webhook_path = endpoint_path(env, LOCAL_WEBHOOK_SECRET, connect=False)
    connect_path = endpoint_path(env, LOCAL_CONNECT_WEBHOOK_SECRET, connect=True)
    base = env["PUBLIC_BASE_URL"]
    command = [
        sys.executable,
        "-m",
        "tools.stripe_standin",
        "--port",
        str(STANDIN_PORT),
        "--api-key",
        env["STRIPE_SECRET_KEY"],
    ]
    command += ["--webhook-url", base + webhook_path, "--webhook-secret", LOCAL_WEBHOOK_SECRET]
    command += [
        "--connect-webhook-url",
        base + connect_path,
        "--connect-webhook-secret",
        LOCAL_CONNECT_WEBHOOK_SECRET,
    ]
    print(f"Stripe stand-in on http://127.0.0.1:{STANDIN_PORT}", flush=True)
    return subprocess.Popen(command, cwd=ROOT, env=env)


def endpoint_path(env: dict[str, str], secret: str, *, connect: bool) -> str:
    """Record the local webhook endpoint (as ops would with a dashboard secret)."""
    import json

    args = [sys.executable, "manage.py", "stripe_webhook_endpoint", "--secret", secret, "--json"]
    if connect:
        args.append("--connect")
    result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        fail(f"Could not record the local webhook endpoint: {result.stderr.strip()}")
    return json.loads(result.stdout)["path"]


if __name__ == "__main__":
    main()
