"""Serving the dashboard: ``/`` answers the page, ``/dashboard/…`` its modules, styles and libraries.

Every answer carries a strict Content-Security-Policy (scripts and styles from the hub only, no
inline script, no eval, connections to the hub only), so a value shown on the page can never run
as code. Files are revalidated on each load (``no-cache`` with an ETag): an upgraded hub serves
its new dashboard at once, and an unchanged one answers 304. Text is gzipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

STATIC = Path(__file__).parent / "static"
PREFIX = "/dashboard"
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; font-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-cache"),
]


def dashboard(*, auth: bool) -> ASGIApp:
    """The ASGI app for ``/`` and everything under ``/dashboard/``.

    ``/dashboard/hub.json`` tells the page whether the hub asks for a sign-in (``--no-auth`` does not),
    so it need not probe with a request bound to fail.
    """
    files = _PageAtRoot(StaticFiles(directory=STATIC), {"auth": auth})
    return GZipMiddleware(_SecurityHeaders(files), minimum_size=512)


def serves(path: str) -> bool:
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


class _PageAtRoot:
    """``/`` is ``index.html``; ``/dashboard/x`` is ``x``; ``/dashboard/hub.json`` what the page asks."""

    def __init__(self, app: ASGIApp, hub: dict[str, Any]) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == PREFIX + "/hub.json":
            await JSONResponse(self.hub)(scope, receive, send)
            return
        inner = "/index.html" if path in ("/", PREFIX, PREFIX + "/") else path.removeprefix(PREFIX)
        try:
            await self.app({**scope, "path": inner, "root_path": ""}, receive, send)
        except HTTPException as exc:  # StaticFiles raises its 404s: outside a Starlette app, answer them
            await PlainTextResponse(exc.detail, status_code=exc.status_code)(scope, receive, send)


class _SecurityHeaders:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
