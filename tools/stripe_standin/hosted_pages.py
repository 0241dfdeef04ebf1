"""The hosted pages: Checkout (Pay / Cancel) and Connect onboarding."""

from __future__ import annotations

import copy
import html
import re

from ._common import StandinError, _format_amount, _now


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:36em;margin:2em auto}"
        "td,th{padding:.2em .8em;text-align:left}button{margin:.5em .2em}</style>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}"
        "<p><small>Stripe stand-in &mdash; no real money moves.</small></p></body></html>"
    )


class HostedPages:
    """Part of :class:`StripeStandin` (state and lock live there)."""

    def _handle_page(self, method: str, path: str, form: dict) -> tuple[int, str, dict]:
        """Hosted checkout and onboarding pages: (status, html, headers)."""
        m = re.fullmatch(r"/pay/([^/]+)", path)
        if m and method == "GET":
            return self._checkout_page(m.group(1))
        m = re.fullmatch(r"/pay/([^/]+)/(complete|cancel|settle)", path)
        if m and method == "POST":
            session_id, action = m.groups()
            try:
                if action == "complete":
                    self.pay(
                        session_id,
                        async_payment=form.get("method") == "delayed",
                        email=form.get("email") or None,
                    )
                    target = self.get(session_id)["success_url"]  # type: ignore[index]
                elif action == "cancel":
                    target = self.cancel(session_id)
                else:
                    if form.get("outcome") == "fail":
                        self.async_fail(session_id)
                    else:
                        self.async_succeed(session_id)
                    target = f"/pay/{session_id}"
            except StandinError as exc:
                return 409, _page("Checkout", f"<p>{html.escape(str(exc))}</p>"), {}
            if not target:
                return 200, _page("Checkout", "<p>Done. You can close this page.</p>"), {}
            target = target.replace("{CHECKOUT_SESSION_ID}", session_id)
            return 303, "", {"Location": target}
        m = re.fullmatch(r"/connect/onboard/([^/]+)(/complete)?", path)
        if m:
            with self._lock:
                link = self._account_links.get(m.group(1))
            if link is None:
                return 404, _page("Onboarding", "<p>This link has expired.</p>"), {}
            if method == "GET" and not m.group(2):
                body = (
                    f"<p>Connected account <code>{html.escape(link['account'])}</code></p>"
                    f'<form method="post" action="/connect/onboard/{m.group(1)}/complete">'
                    '<button type="submit">Complete onboarding</button></form>'
                )
                return 200, _page("Stripe onboarding", body), {}
            if method == "POST" and m.group(2):
                self.update_account(link["account"], charges_enabled=True)
                if link["return_url"]:
                    return 303, "", {"Location": link["return_url"]}
                return 200, _page("Onboarding", "<p>Onboarding complete.</p>"), {}
        return 404, _page("Not found", "<p>Not found.</p>"), {}

    def _checkout_page(self, session_id: str) -> tuple[int, str, dict]:
        with self._lock:
            session = self._objects.get(session_id)
            if session is None or session.get("object") != "checkout.session":
                return 404, _page("Checkout", "<p>No such checkout session.</p>"), {}
            session = copy.deepcopy(session)
            items = copy.deepcopy(self._line_items.get(session_id, []))
            pi = self.get(session.get("payment_intent") or "")
        cur = session["currency"]
        rows = "".join(
            f"<tr><td>{html.escape(item['description'])}</td><td>{item['quantity']}</td>"
            f"<td>{_format_amount(item['amount_total'], cur)}</td></tr>"
            for item in items
        )
        sid = html.escape(session_id)
        parts = [
            "<table><thead><tr><th>Item</th><th>Qty</th><th>Amount</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>",
            f'<p>Total: <strong id="total">{_format_amount(session["amount_total"], cur)}'
            "</strong></p>",
        ]
        lapsed = session["expires_at"] <= _now()
        if session["status"] == "open" and not lapsed:
            email = html.escape(session.get("customer_email") or "buyer@example.com")
            parts.append(
                f'<form method="post" action="/pay/{sid}/complete">'
                f'<label>Email <input type="email" name="email" value="{email}"></label> '
                '<button type="submit" name="method" value="card" id="pay">Pay</button> '
                '<button type="submit" name="method" value="delayed" id="pay-delayed">'
                "Pay by bank debit (settles later)</button></form>"
                f'<form method="post" action="/pay/{sid}/cancel">'
                '<button type="submit" id="cancel">Cancel</button></form>'
            )
        elif pi is not None and pi["status"] == "processing":
            parts.append(
                "<p>Payment processing.</p>"
                f'<form method="post" action="/pay/{sid}/settle">'
                '<button type="submit" name="outcome" value="succeed">Payment settles</button> '
                '<button type="submit" name="outcome" value="fail">Payment fails</button></form>'
            )
        else:
            state = "expired" if lapsed and session["status"] == "open" else session["status"]
            parts.append(
                f"<p>This checkout session is {html.escape(state)} "
                f"(payment {html.escape(session['payment_status'])}).</p>"
            )
        return 200, _page("Checkout (Stripe stand-in)", "".join(parts)), {}
