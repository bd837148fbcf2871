"""``/ws/events``: the live event stream over a WebSocket.

This module reads the request (topics, ``last_event_id``, who is asking),
accepts the socket (answering the ``bearer`` subprotocol when the client
offered it) and says what a snapshot holds; ``corral.events.stream`` serves the
connection. Authentication is the ``BearerAuth`` middleware's; the
``AcceptBeforeClose`` middleware here makes its refusals reach WebSocket
clients as close codes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.api.auth import bearer_token
from corral.api.context import ApiContext
from corral.auth.principal import Authenticator, Principal, Role
from corral.clock import Clock
from corral.config.settings import EventStreamSettings
from corral.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from corral.events.log import EventLog
from corral.events.stream import (
    CLOSE_BAD_REQUEST,
    CLOSE_FORBIDDEN,
    CLOSE_INTERNAL,
    ClientStream,
    StillValid,
)
from corral.events.ticker import MetricsTicker
from corral.events.topics import TopicFilter
from corral.tasks.store import ACTIVE
from corral.tasks.views import AgentOut, TaskOut

logger = logging.getLogger(__name__)

router = APIRouter()

BEARER = "bearer"
UNFINISHED = ("pending", "running", "paused")


@dataclass(frozen=True)
class EventStreamContext:
    """What the stream needs from the hub, handed over by the composition root."""

    log: EventLog
    ticker: MetricsTicker
    settings: EventStreamSettings
    clock: Clock
    authenticator: Authenticator | None


@router.websocket("/ws/events")
async def event_stream(websocket: WebSocket) -> None:
    stream: EventStreamContext | None = getattr(websocket.app.state, "events", None)
    subprotocol = BEARER if BEARER in websocket.scope.get("subprotocols", []) else None
    principal: Principal | None = websocket.scope.get("state", {}).get("principal")
    if stream is None or principal is None:
        await _refuse(websocket, subprotocol, CLOSE_INTERNAL, "the event stream is not available")
        return
    try:
        topics = TopicFilter.requested(
            websocket.query_params.get("topics"), admin=principal.role is Role.ADMIN
        ).with_types(websocket.query_params.get("types"))
        last_event_id = _last_event_id(websocket.query_params.get("last_event_id"))
    except Forbidden as exc:
        await _refuse(websocket, subprotocol, CLOSE_FORBIDDEN, exc.message)
        return
    except InvalidInput as exc:
        await _refuse(websocket, subprotocol, CLOSE_BAD_REQUEST, exc.message)
        return
    ctx: ApiContext = websocket.app.state.corral

    async def snapshot(wanted: TopicFilter) -> dict[str, Any]:
        return await _snapshot(ctx, stream, wanted)

    await websocket.accept(subprotocol=subprotocol)
    client = ClientStream(
        websocket,
        stream.log,
        stream.settings,
        stream.clock,
        snapshot,
        _still_valid(websocket, stream),
        batch=websocket.query_params.get("batch") in ("1", "true"),
    )
    await client.run(topics, last_event_id)


def _last_event_id(text: str | None) -> int | None:
    """Raises: InvalidInput."""
    if text is None:
        return None
    if not text.isdigit() or len(text) > 18:
        raise InvalidInput("last_event_id: expected the id of the last event received (a whole number)")
    return int(text)


def _still_valid(websocket: WebSocket, stream: EventStreamContext) -> StillValid | None:
    """How the stream re-checks, now and then, that the token it was opened with still holds."""
    authenticator, token = stream.authenticator, bearer_token(websocket.scope)
    if authenticator is None or token is None:
        return None

    async def check() -> bool:
        try:
            return await authenticator.authenticate(token) is not None
        except Unauthorized:
            return False

    return check


async def _snapshot(ctx: ApiContext, stream: EventStreamContext, topics: TopicFilter) -> dict[str, Any]:
    """The current state of each followed topic that has one."""
    state: dict[str, Any] = {}
    named = topics.named
    if "servers" in named:
        wanted = topics.subjects_of("servers")
        views = await ctx.registry.views()
        state["servers"] = [view for view in views if wanted is None or view["name"] in wanted]
    if "executions" in named:
        state["executions"] = await _executions(ctx, topics.subjects_of("executions"))
    if "tasks" in named:
        state["tasks"] = await _tasks(ctx, topics.subjects_of("tasks"))
        state["agents"] = [AgentOut.of(view).model_dump(mode="json") for view in ctx.tasks.agents.views()]
    if "nodes" in named:
        wanted = topics.subjects_of("nodes")
        state["nodes"] = [
            node.to_json() for node in ctx.nodes.nodes() if wanted is None or node.name in wanted
        ]
    if "metrics" in named:
        state["metrics"] = stream.ticker.latest
    return state


async def _executions(ctx: ApiContext, wanted: list[str] | None) -> list[dict[str, Any]]:
    if wanted is None:
        unfinished = [
            execution.to_json()
            for status in UNFINISHED
            for execution in await ctx.workflows.executions(status=status, limit=1000)
        ]
        return sorted(unfinished, key=lambda execution: str(execution.get("created_at", "")))
    found = []
    for execution_id in wanted:
        try:
            found.append(await ctx.workflows.status(execution_id))
        except NotFound:
            continue
    return found


async def _tasks(ctx: ApiContext, wanted: list[str] | None) -> list[dict[str, Any]]:
    """The tasks followed: those named, or every one not finished yet (oldest first)."""
    if wanted is None:
        tasks = [task for state in ACTIVE for task in await ctx.tasks.store.page(state=state, limit=1000)]
        tasks.sort(key=lambda task: task.created_at)
    else:
        tasks = [task for task_id in wanted if (task := await ctx.tasks.store.get(task_id)) is not None]
    return [TaskOut.of(task).model_dump(mode="json") for task in tasks]


async def _refuse(websocket: WebSocket, subprotocol: str | None, code: int, reason: str) -> None:
    await websocket.accept(subprotocol=subprotocol)
    await websocket.close(code, reason[:123])


class AcceptBeforeClose:
    """Pure ASGI: a WebSocket refused before its handshake is accepted first, then closed.

    Closing before the handshake makes the server answer HTTP 403, and the
    client never sees the close code or reason (4401 from ``BearerAuth``).
    Accepting first (with the ``bearer`` subprotocol when offered) lets them
    through; no message is sent in between.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        accepted = False

        async def send_accepted(message: Message) -> None:
            nonlocal accepted
            if message["type"] == "websocket.close" and not accepted:
                offered = scope.get("subprotocols", [])
                await send({"type": "websocket.accept", "subprotocol": BEARER if BEARER in offered else None})
            if message["type"] in ("websocket.accept", "websocket.close", "websocket.http.response.start"):
                accepted = True
            await send(message)

        await self.app(scope, receive, send_accepted)
