"""What every response carries and every change must prove, in one place.

Headers: a Content-Security-Policy that allows only this origin's files and no framing (no
inline script anywhere, so nothing injected can run), ``nosniff``, no referrer (links to a
client's company must not leak the dashboard's URLs), ``no-store`` (pages show access links),
and HSTS when the dashboard is served over HTTPS. CSRF: each session has its own token, and a
form that changes something must send it back; before sign-in the same check runs against a
random cookie (double submit), so a sign-in cannot be forced on someone from another site.
"""

from __future__ import annotations

import hmac
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADERS = {
    b"content-security-policy": (
        b"default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'; "
        b"object-src 'none'"
    ),
    b"x-content-type-options": b"nosniff",
    b"referrer-policy": b"no-referrer",
    b"x-frame-options": b"DENY",
    b"cache-control": b"no-store",
    b"cross-origin-opener-policy": b"same-origin",
}
HSTS = (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
#: Headers a response may set for itself: the digest preview is a sandboxed document of its
#: own, framed by the dashboard's page and styled inline like the mail.
OWN_POLICY = {b"content-security-policy", b"x-frame-options"}
#: That document's policy: no script, no request anywhere, framed only by this origin.
SANDBOXED = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; "
    "form-action 'none'; base-uri 'none'; sandbox"
)


class SecurityHeaders:
    """ASGI middleware: the headers above on every HTTP response, errors included, and
    ``Server-Timing: app;dur=MS`` (the time until the response started), so an operator's
    browser tools, a proxy's log or a benchmark read the server's own time."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                took = f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()
                headers = message.get("headers", [])
                own = {k.lower() for k, _ in headers} & OWN_POLICY
                given = [(k, v) for k, v in headers if k.lower() not in HEADERS or k.lower() in own]
                extra = [(k, v) for k, v in HEADERS.items() if k not in own]
                timing = [(b"server-timing", took)]
                message = {
                    **message,
                    "headers": given + extra + timing + ([HSTS] if self.https else []),
                }
            await send(message)

        await self.app(scope, receive, with_headers)


def same_token(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; a missing value never matches."""
    return bool(expected) and bool(given) and hmac.compare_digest(str(expected), str(given))
