"""Calls sent straight over an upstream's transport in the caller's task, around the SDK client session.

Through the client session, a request crosses four tasks and three memory streams: the caller, the
session's writer, the transport's sender, the session's reader, and back. At concurrency 1 each of
those hand-offs is a trip around the event loop, and together they were about half of what the hub
added to a tool call (docs/design.md). Both of Corral's transports also offer a lane: the caller's own
task writes the request and reads its answer. The runner sends plain ``tools/call`` requests on it.

What comes with the answer is handled in order before it: the request's progress, and log messages
(which go to the relay, as the session would send them). The server's own requests during the call
(sampling, elicitation, roots) and anything unrelated still go to the client session, which answers
them as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Any, Protocol

import anyio
import mcp_types as types
from mcp import MCPError
from mcp.client.session import LoggingFnT
from mcp.shared.dispatcher import ProgressFnT

LANE_ID_PREFIX = "corral-"
"""Requests sent on a lane have ids of their own, apart from the client session's numbers."""
Answer = types.JSONRPCResponse | types.JSONRPCError
GIVE_UP_WRITE_S = 2.0
"""How long telling the server that a caller gave up may take."""


class CallLane(Protocol):
    """Requests sent straight over a transport in the caller's task, not through the client session."""

    async def call(
        self, method: str, params: dict[str, Any] | None, on_progress: ProgressFnT, on_log: LoggingFnT
    ) -> dict[str, Any]:
        """The request's result.

        Raises:
            MCPError: the server answered with an error, or the connection to it is gone.
        """
        ...


class LaneCall:
    """One call on a lane: its request, and what the messages that come with its answer mean."""

    def __init__(
        self,
        number: int,
        method: str,
        params: dict[str, Any] | None,
        on_progress: ProgressFnT,
        on_log: LoggingFnT,
    ) -> None:
        self.request_id = f"{LANE_ID_PREFIX}{number}"
        sent = dict(params or {})
        sent["_meta"] = {**sent.get("_meta", {}), "progressToken": self.request_id}
        self.request = types.JSONRPCRequest(jsonrpc="2.0", id=self.request_id, method=method, params=sent)
        self._on_progress = on_progress
        self._on_log = on_log

    async def take(self, notification: types.JSONRPCNotification) -> bool:
        """Handle a notification that came with the answer, if it is this call's; returns whether it was."""
        if notification.method == "notifications/progress":
            progress = types.ProgressNotificationParams.model_validate(notification.params, by_name=False)
            if progress.progress_token != self.request_id:
                return False
            await self._on_progress(progress.progress, progress.total, progress.message)
            return True
        if notification.method == "notifications/message":
            await self._on_log(types.LoggingMessageNotificationParams.model_validate(notification.params))
            return True
        return False

    def result(self, answer: Answer) -> dict[str, Any]:
        """Raises: MCPError, when the server answered with one."""
        if isinstance(answer, types.JSONRPCError):
            raise MCPError.from_jsonrpc_error(answer)
        return answer.result

    async def give_up(
        self, send: Callable[[types.JSONRPCNotification], Awaitable[object]], *failures: type[Exception]
    ) -> None:
        """Tell the server that the caller gave up, as the client session would.

        Called while the caller is being cancelled, so shielded and bounded; a connection that fails
        with one of ``failures`` meanwhile has nobody left to tell.
        """
        cancelled = types.JSONRPCNotification(
            jsonrpc="2.0",
            method="notifications/cancelled",
            params={"requestId": self.request_id, "reason": "the caller gave up"},
        )
        with anyio.CancelScope(shield=True), anyio.move_on_after(GIVE_UP_WRITE_S), suppress(*failures):
            await send(cancelled)


def connection_closed(reason: str) -> MCPError:
    return MCPError(types.CONNECTION_CLOSED, f"Connection closed: {reason}")
