"""Where an upstream's own asks go: to the downstream client of the request in flight.

One ``Relay`` serves one upstream session. While requests run on behalf of
downstream clients it keeps their peers; a server-to-client request (sampling,
elicitation, roots) or a log message goes to the most recent one. With several
downstream clients sharing one upstream session the attribution is a best
guess, which is why a server can ask for one session per client.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

import mcp_types as types
from mcp.client.session import ClientRequestContext, MessageHandlerFnT

from corral.upstream.connection import UpstreamHandlers
from corral.upstream.logs import LogBuffer
from corral.upstream.peer import Peer


class Relay:
    def __init__(self, server: str, logs: LogBuffer, now: Callable[[], datetime]) -> None:
        self._server = server
        self._logs = logs
        self._now = now
        self._peers: list[Peer] = []

    @contextmanager
    def serving(self, peer: Peer | None) -> Iterator[None]:
        """While a request runs on behalf of ``peer``."""
        if peer is None:
            yield
            return
        self._peers.append(peer)
        try:
            yield
        finally:
            self._peers.remove(peer)

    def handlers(self, message: MessageHandlerFnT) -> UpstreamHandlers:
        return UpstreamHandlers(
            message=message,
            logging=self.log,
            sampling=self._on_sampling,
            elicitation=self._on_elicitation,
            list_roots=self._on_list_roots,
        )

    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        self._logs.note(f"log {params.level}: {params.data}", self._now())
        if self._peers:
            await self._peers[-1].log(params)

    async def _on_sampling(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        if not self._peers:
            return self._no_peer("sampling/createMessage")
        return await self._peers[-1].sample(params)

    async def _on_elicitation(
        self, context: ClientRequestContext, params: types.ElicitRequestParams
    ) -> types.ElicitResult | types.ErrorData:
        if not self._peers:
            return self._no_peer("elicitation/create")
        return await self._peers[-1].elicit(params)

    async def _on_list_roots(self, context: ClientRequestContext) -> types.ListRootsResult | types.ErrorData:
        if not self._peers:
            return types.ListRootsResult(roots=[])
        return await self._peers[-1].list_roots()

    def _no_peer(self, method: str) -> types.ErrorData:
        return types.ErrorData(
            code=types.INVALID_REQUEST,
            message=f"{method} from {self._server!r} outside a client's request: no client to ask",
        )
