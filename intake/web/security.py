"""Browser hardening for the cadre pages: one ASGI middleware sets the headers.

The pages show names, masked ID numbers and complaints, so every answer under the prefix
(the refusal pages and files too, whichever route or error made them) carries:

- a Content-Security-Policy allowing only the service's own scripts, styles, images and
  media (the vendored htmx and ``cadre.js``; no inline script or style, no ``eval`` needed),
  no plugins, no ``<base>`` rewriting, forms posting only back to the service, and no
  framing (``frame-ancestors 'none'``, with ``X-Frame-Options: DENY`` for old browsers),
  so an injected tag can neither run nor load anything and no other site can frame a
  page to trick a click;
- ``Referrer-Policy: same-origin``: an item's address never leaves for another site;
- ``X-Content-Type-Options: nosniff``: a villager's upload is never run as a script;
- ``Cache-Control: no-store`` on everything but the static files: a shared township
  computer's cache (or the back button after logging out) keeps no personal data.

A middleware rather than a route class, so that a 404 for an unknown path, a 405 and a
static file get the headers too.
"""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}


class SecurityHeaders:
    """Add :data:`HEADERS` (and ``no-store`` outside ``static``) to answers under ``prefix``.

    Example::

        app.add_middleware(SecurityHeaders, prefix="/cadre")
    """

    def __init__(self, app: ASGIApp, prefix: str = "/cadre", static: str = "/static/") -> None:
        self.app = app
        self.prefix = prefix.rstrip("/")
        self.static = self.prefix + static

    def _covers(self, path: str) -> bool:
        return path == self.prefix or path.startswith(self.prefix + "/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._covers(scope["path"]):
            await self.app(scope, receive, send)
            return
        cacheable = scope["path"].startswith(self.static)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in HEADERS.items():
                    headers[name] = value
                if not cacheable:
                    headers["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
