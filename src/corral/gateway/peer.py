"""The downstream client of one relayed request: where an upstream's asks and logs go back to."""

from __future__ import annotations

from typing import Any, TypeVar

import mcp_types as types
from mcp import MCPError
from mcp.server import ServerRequestContext
from mcp.shared.message import ServerMessageMetadata
from pydantic import BaseModel

RELAY_TIMEOUT_S = 600.0
ResultT = TypeVar("ResultT", bound=BaseModel)


class DownstreamPeer:
    """Implements the supervisor's ``Peer`` for one request of one downstream session."""

    def __init__(self, ctx: ServerRequestContext[Any, Any]) -> None:
        self._ctx = ctx
        self._related = ServerMessageMetadata(related_request_id=ctx.request_id)

    @property
    def wants_progress(self) -> bool:
        return self._ctx.meta is not None and self._ctx.meta.get("progress_token") is not None

    async def progress(self, progress: float, total: float | None, message: str | None) -> None:
        await self._ctx.session.report_progress(progress, total, message)

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        await self._ctx.session.send_notification(
            types.LoggingMessageNotification(params=params), related_request_id=self._ctx.request_id
        )

    async def sample(
        self, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        if not self._supports(types.ClientCapabilities(sampling=types.SamplingCapability())):
            return _unsupported("sampling")
        request = types.CreateMessageRequest(params=params)
        if params.tools:
            return await self._ask(request, types.CreateMessageResultWithTools)
        return await self._ask(request, types.CreateMessageResult)

    async def elicit(self, params: types.ElicitRequestParams) -> types.ElicitResult | types.ErrorData:
        if not self._supports(types.ClientCapabilities(elicitation=types.ElicitationCapability())):
            return _unsupported("elicitation")
        return await self._ask(types.ElicitRequest(params=params), types.ElicitResult)

    async def list_roots(self) -> types.ListRootsResult | types.ErrorData:
        if not self._supports(types.ClientCapabilities(roots=types.RootsCapability())):
            return types.ListRootsResult(roots=[])
        return await self._ask(types.ListRootsRequest(), types.ListRootsResult)

    def _supports(self, capability: types.ClientCapabilities) -> bool:
        return self._ctx.session.check_client_capability(capability)

    async def _ask(self, request: Any, result_type: type[ResultT]) -> ResultT | types.ErrorData:
        try:
            return await self._ctx.session.send_request(
                request, result_type, request_read_timeout_seconds=RELAY_TIMEOUT_S, metadata=self._related
            )
        except MCPError as exc:
            return types.ErrorData(code=exc.code, message=exc.message, data=exc.data)


def _unsupported(feature: str) -> types.ErrorData:
    return types.ErrorData(
        code=types.INVALID_REQUEST, message=f"the client connected to Corral does not support {feature}"
    )
