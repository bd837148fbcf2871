"""Every REST change goes into the audit log: pure ASGI middleware around the routes.

For each POST, PUT, PATCH or DELETE that reaches a route under ``/api/`` it
records who (the principal), what (``<resource>.<verb>``, from the route's path:
``POST /api/v1/servers/{name}/restart`` is ``servers.restart``, a bare ``POST`` is
``create``), the target (``servers/echo``), when, from where (the client
address) and the outcome (``ok`` or the problem's ``code``) — refusals and
failures included. A route may name its target or add detail with ``describe``
(e.g. the name in the body of a create). Nothing of the request body is stored
unless a route puts it there.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.audit.log import AuditLog
from corral.audit.models import AuditEntry
from corral.auth.principal import Principal
from corral.clock import Clock

API_PREFIX = "/api/v1/"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "update", "DELETE": "delete"}
MAX_PROBLEM_BYTES = 64 * 1024
NOTE_KEY = "corral.audit"


@dataclass
class AuditNote:
    target: str | None = None
    actor: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def describe(request: Request, *, target: str | None = None, actor: str | None = None, **detail: Any) -> None:
    """Name this request's target (and, before a caller is known, its actor) in the audit entry."""
    note: AuditNote = request.scope.setdefault("state", {}).setdefault(NOTE_KEY, AuditNote())
    if target is not None:
        note.target = target
    if actor is not None:
        note.actor = actor
    note.detail.update(detail)


def action_and_target(method: str, path_format: str, path_params: dict[str, Any]) -> tuple[str, str]:
    """``POST /api/v1/servers/{name}/restart``, ``name=echo`` → ``("servers.restart", "servers/echo")``."""
    segments = [part for part in path_format.removeprefix(API_PREFIX).split("/") if part]
    resource = segments[0] if segments else "api"
    literal = [part for part in segments[1:] if not part.startswith("{")]
    verb = (
        literal[-1]
        if literal and not segments[-1].startswith("{")
        else METHOD_VERBS.get(method, method.lower())
    )
    values = [str(value) for value in path_params.values()]
    return f"{resource}.{verb}", "/".join([resource, *values])


class AuditTrail:
    def __init__(self, app: ASGIApp, audit: AuditLog, clock: Clock) -> None:
        self.app = app
        self.audit = audit
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] in SAFE_METHODS
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        response = _Response()

        async def watch(message: Message) -> None:
            response.see(message)
            await send(message)

        started = time.perf_counter()
        try:
            await self.app(scope, receive, watch)
        finally:
            self._record(scope, response, time.perf_counter() - started)

    def _record(self, scope: Scope, response: _Response, seconds: float) -> None:
        route = scope.get("route")
        # Only requests a route took: an unknown path or a wrong method changed nothing.
        if not isinstance(route, Route) or (route.methods and scope["method"] not in route.methods):
            return
        state = scope.get("state", {})
        principal: Principal | None = state.get("principal")
        note: AuditNote = state.get(NOTE_KEY) or AuditNote()
        action, target = action_and_target(scope["method"], route.path_format, scope.get("path_params", {}))
        client = scope.get("client")
        detail: dict[str, Any] = {"method": scope["method"], "status": response.status}
        if principal is not None and principal.token_id is not None:
            detail["token"] = principal.token_id
        detail.update(note.detail)
        self.audit.record(
            AuditEntry(
                time=self.clock.now(),
                actor=principal.name if principal is not None else note.actor or "anonymous",
                action=action,
                target=note.target or target,
                outcome=response.outcome(),
                source=client[0] if client else "",
                duration_ms=round(seconds * 1000, 3),
                detail=detail,
            )
        )


class _Response:
    """What the audit entry needs of a response: its status and, for a problem, its code."""

    def __init__(self) -> None:
        self.status = 500  # an exception before any response is the server's error
        self._problem = False
        self._body = bytearray()

    def see(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            headers = dict(message.get("headers", []))
            self._problem = self.status >= 400 and b"json" in headers.get(b"content-type", b"")
        elif message["type"] == "http.response.body" and self._problem:
            if len(self._body) < MAX_PROBLEM_BYTES:
                self._body.extend(message.get("body", b""))

    def outcome(self) -> str:
        if self.status < 400:
            return "ok"
        try:
            code = json.loads(self._body).get("code") if self._body else None
        except (ValueError, AttributeError):
            code = None
        return str(code) if code else f"http_{self.status}"
