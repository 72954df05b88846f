"""Headers every response carries so a browser holds our pages to what they are: no framing by other sites, no
script or style from anywhere but this server, no sniffing a JSON body into HTML, and no full URLs in Referer.

The console, inbox and sign-in pages load only files from /static (no inline script or style), so they get the
strict policy. The shopper's pages (`/` and `/chat`) load the widget, which styles its shadow root with a <style>
element, and carry a small <style> of their own: they may use inline styles, still no inline script. The API docs
(Swagger UI, which styles through the DOM, not through markup) keep the strict policy.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STRICT = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
INLINE_STYLES = STRICT.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
POLICIES = {"/": INLINE_STYLES, "/chat": INLINE_STYLES}
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers to every HTTP response that did not set its own (`/chat` sends
    `Referrer-Policy: no-referrer`, which stays)."""

    def __init__(self, app: ASGIApp, policies: Mapping[str, str] | None = None) -> None:
        self.app = app
        self.policies = dict(POLICIES if policies is None else policies)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self.policies.get(scope["path"], STRICT)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("Content-Security-Policy", policy)
                for name, value in HEADERS.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, send_with_headers)
