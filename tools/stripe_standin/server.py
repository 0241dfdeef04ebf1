"""HTTP plumbing: a threading server that hands /v1 requests to the API and
everything else to the hosted pages."""

from __future__ import annotations

import json
import logging
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from ._common import _canonical_header, _default_fault, decode_form

log = logging.getLogger("stripe_standin")


class Responder(Protocol):
    """What the HTTP layer asks of the stand-in (core.StripeStandin), which
    starts this server and hands itself in."""

    log_requests: bool

    def _handle_api(
        self, method: str, path: str, params: dict, headers: dict[str, str]
    ) -> tuple[int | None, Any, dict]: ...

    def _handle_page(self, method: str, path: str, form: dict) -> tuple[int, str, dict]: ...


class _Server(ThreadingHTTPServer):
    # Request threads are joined on server_close() so that stop() leaves no
    # thread behind (hung requests are released first).
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], standin: Responder) -> None:
        self.standin = standin
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers
    timeout = 30  # seconds a client may take to send its request
    server_version = "stripe-standin/1.0"
    sys_version = ""

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per request is logged by _serve instead

    def _serve(self, method: str) -> None:
        standin = self.server.standin
        started = time.monotonic()
        split = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        status: int | None
        try:
            if split.path.startswith("/v1/"):
                params = decode_form(split.query)
                if method == "POST":
                    params.update(decode_form(body))
                headers = {_canonical_header(k): v for k, v in self.headers.items()}
                status, payload, extra = standin._handle_api(method, split.path, params, headers)
                if status is None:
                    self.close_connection = True
                    return
                self._respond(status, json.dumps(payload, indent=2), "application/json", extra)
            else:
                form = {k: v for k, v in urllib.parse.parse_qsl(body)}
                status, page, extra = standin._handle_page(method, split.path, form)
                self._respond(status, page, "text/html; charset=utf-8", extra)
        except (BrokenPipeError, ConnectionResetError):
            status = 0  # the client gave up (e.g. its timeout fired first)
        except Exception:  # answer 500 like Stripe, keep serving
            log.exception("stand-in failed on %s %s", method, self.path)
            status = 500
            try:
                self._respond(
                    500, json.dumps({"error": _default_fault(500)}), "application/json", {}
                )
            except OSError:
                pass
        if standin.log_requests:
            log.info(
                "%s %s -> %s (%.0f ms)",
                method,
                split.path,
                status,
                (time.monotonic() - started) * 1000,
            )

    def _respond(self, status: int, text: str, content_type: str, headers: dict) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)
