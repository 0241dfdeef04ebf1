"""``python -m tools.stripe_standin``: serve the stand-in for local development."""

from __future__ import annotations

import argparse
import logging
import signal
import threading

from ._common import DEFAULT_API_KEY, log
from .core import StripeStandin


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.stripe_standin",
        description="Serve a loopback stand-in for Stripe's API, hosted checkout and webhooks.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--api-key", default=DEFAULT_API_KEY)
    parser.add_argument("--webhook-url")
    parser.add_argument("--webhook-secret")
    parser.add_argument("--connect-webhook-url")
    parser.add_argument("--connect-webhook-secret")
    parser.add_argument(
        "--sweep-interval",
        type=float,
        default=5.0,
        help="seconds between lapse sweeps of expired checkout sessions",
    )
    args = parser.parse_args(argv)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s stripe-standin %(message)s")
    standin = StripeStandin(api_key=args.api_key, host=args.host, port=args.port, log_requests=True)
    try:
        standin.configure_webhooks(
            url=args.webhook_url,
            secret=args.webhook_secret,
            connect_url=args.connect_webhook_url,
            connect_secret=args.connect_webhook_secret,
        )
    except ValueError as exc:
        parser.error(str(exc))
    base = standin.start(sweep_interval=args.sweep_interval)
    log.info("listening on %s (platform account %s)", base, standin.platform_account_id)

    done = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: done.set())
    done.wait()
    log.info("shutting down")
    standin.stop()
    return 0
