"""Bearer-token authentication as pure ASGI middleware (streaming- and WebSocket-safe).

Everything under the protected prefixes needs ``Authorization: Bearer <token>``;
health endpoints stay open so orchestrators can probe them.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from corral.auth.admin_token import tokens_match

PROTECTED_PREFIXES = ("/api/", "/mcp", "/servers/", "/ws/")


class BearerAuth:
    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.token is None or scope["type"] not in ("http", "websocket") or not _protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        given = _bearer(scope)
        if given is not None and tokens_match(given, self.token):
            scope.setdefault("state", {})["principal"] = "admin"
            await self.app(scope, receive, send)
            return
        detail = "missing bearer token" if given is None else "invalid bearer token"
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 4401, "reason": detail})
            return
        body = json.dumps(
            {
                "type": "https://corral.dev/problems/unauthorized",
                "title": "unauthorized",
                "status": 401,
                "code": "unauthorized",
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
    return path.startswith(PROTECTED_PREFIXES) or path == "/api"


def _bearer(scope: Scope) -> str | None:
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credential = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and credential.strip():
                return credential.strip()
    return None
