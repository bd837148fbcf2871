"""The downstream side of a relayed request, as the supervisor sees it.

While a request runs on behalf of a downstream client, the upstream server may
ask that client things (sampling, elicitation, roots) and send it log
messages. The gateway implements ``Peer`` for each downstream request; the
runner hands the upstream's asks to the peer of the request in flight.
"""

from __future__ import annotations

from typing import Protocol

import mcp_types as types


class Peer(Protocol):
    async def log(self, params: types.LoggingMessageNotificationParams) -> None:
        """Forward a log message the upstream sent during the request."""
        ...

    async def sample(
        self, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult | types.CreateMessageResultWithTools | types.ErrorData:
        """Relay ``sampling/createMessage`` and return the downstream client's answer."""
        ...

    async def elicit(self, params: types.ElicitRequestParams) -> types.ElicitResult | types.ErrorData:
        """Relay ``elicitation/create`` and return the downstream client's answer."""
        ...

    async def list_roots(self) -> types.ListRootsResult | types.ErrorData:
        """Relay ``roots/list`` and return the downstream client's answer."""
        ...
