"""Rate limits per token, as pure ASGI middleware behind the auth middleware.

Each principal's token (an API token, a login session) has its own bucket,
shared by REST calls, MCP requests and WebSocket connects; the bootstrap admin
token is not limited.
Logins, which come without a token, are limited per client address. A request
over the limit gets 429 with ``Retry-After``: a problem+json on REST, a
JSON-RPC error (with ``retry_after_s`` in its data) on the MCP endpoints, and a
WebSocket closed with code 4429.
"""

from __future__ import annotations

import json
import math

from starlette.types import ASGIApp, Receive, Scope, Send

from corral.api.problems import problem
from corral.auth.limits import RateLimiter
from corral.auth.principal import BOOTSTRAP_TOKEN_ID, Principal
from corral.errors import RateLimited
from corral.gateway.errors import to_mcp_error

LOGIN_PATH = "/api/v1/auth/login"


def is_mcp_path(path: str) -> bool:
    return path == "/mcp" or (path.startswith("/servers/") and path.endswith("/mcp"))


class RateLimit:
    def __init__(self, app: ASGIApp, per_token: RateLimiter, logins: RateLimiter) -> None:
        self.app = app
        self.per_token = per_token
        self.logins = logins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        principal: Principal | None = scope.get("state", {}).get("principal")
        # The bootstrap admin token (and --no-auth, which has none) is the break-glass credential of
        # whoever runs the hub: it is never throttled; a program gets a token of its own.
        wait = 0.0
        token_id = principal.token_id if principal is not None else None
        if token_id is not None and token_id != BOOTSTRAP_TOKEN_ID:
            wait = self.per_token.take(token_id)
        elif principal is None and scope["path"] == LOGIN_PATH:
            client = scope.get("client")
            wait = self.logins.take(f"address:{client[0] if client else '-'}")
        if wait <= 0:
            await self.app(scope, receive, send)
            return
        error = RateLimited(
            f"too many requests for this token; retry in {wait:.2f} s", retry_after_s=round(wait, 3)
        )
        await _refuse(scope, receive, send, error)


async def _refuse(scope: Scope, receive: Receive, send: Send, error: RateLimited) -> None:
    retry_after = str(max(1, math.ceil(error.retry_after_s)))
    if scope["type"] == "websocket":
        # Like BearerAuth's 4401: 4000 + the HTTP status (AcceptBeforeClose lets the client see it).
        reason = f"rate limited; retry in {error.retry_after_s:.2f} s"
        await send({"type": "websocket.close", "code": 4429, "reason": reason})
        return
    if is_mcp_path(scope["path"]):
        mcp_error = to_mcp_error(error).error
        body = json.dumps(
            {"jsonrpc": "2.0", "id": None, "error": mcp_error.model_dump(mode="json", exclude_none=True)}
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"retry-after", retry_after.encode()),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
        return
    response = problem(429, error.code, error.message, retry_after_s=error.retry_after_s)
    response.headers["Retry-After"] = retry_after
    await response(scope, receive, send)
