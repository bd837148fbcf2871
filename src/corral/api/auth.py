"""Bearer-token authentication as pure ASGI middleware (streaming- and WebSocket-safe).

Everything under the protected prefixes needs a bearer token: in the
``Authorization`` header, or for WebSockets (browsers cannot set headers there)
in ``Sec-WebSocket-Protocol`` as ``bearer, <token>`` or in ``?token=``. The
principal it stands for is put in ``scope["state"]["principal"]``. So does
``/metrics`` (a scraper sends an API token). Health endpoints stay open so
orchestrators can probe them.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from corral.auth.principal import LOCAL_DEVELOPER, Authenticator
from corral.errors import Unauthorized

PROTECTED_PREFIXES = ("/api/", "/mcp", "/servers/", "/ws/")
PROTECTED_PATHS = frozenset({"/api", "/metrics"})
# Logging in is how a person gets a token: it cannot need one.
OPEN_PATHS = frozenset({"/api/v1/auth/login"})


class BearerAuth:
    """``authenticator=None`` is the loopback-only development mode: everyone is a local admin."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator | None) -> None:
        self.app = app
        self.authenticator = authenticator

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not _protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.authenticator is None:
            scope.setdefault("state", {})["principal"] = LOCAL_DEVELOPER
            await self.app(scope, receive, send)
            return
        given = bearer_token(scope)
        code = "unauthorized"
        detail = "missing bearer token" if given is None else "invalid bearer token"
        try:
            principal = await self.authenticator.authenticate(given) if given is not None else None
        except Unauthorized as exc:  # a token that was valid once: say why it is not now
            principal, code, detail = None, exc.code, exc.message
        if principal is not None:
            scope.setdefault("state", {})["principal"] = principal
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401, "reason": detail})
            return
        body = json.dumps(
            {
                "type": f"https://corral.dev/problems/{code}",
                "title": code.replace("_", " "),
                "status": 401,
                "code": code,
                "detail": f"{detail}: send 'Authorization: Bearer <token>' "
                "(a local hub keeps its admin token in <data-dir>/admin.token)",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/problem+json"),
                    (b"www-authenticate", b'Bearer realm="corral"'),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def _protected(path: str) -> bool:
    return (path.startswith(PROTECTED_PREFIXES) or path in PROTECTED_PATHS) and path not in OPEN_PATHS


def bearer_token(scope: Scope) -> str | None:
    """The bearer token of a request: Authorization header; for WebSockets also the subprotocol or query."""
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                return credential.strip()
    if scope["type"] != "websocket":
        return None
    for name, value in headers:
        if name == b"sec-websocket-protocol":
            offered = [item.strip() for item in value.decode("latin-1").split(",")]
            if "bearer" in offered[:-1]:
                return offered[offered.index("bearer") + 1] or None
    tokens = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token")
    return tokens[0] if tokens else None
