"""The messages between a hub and its nodes, as JSON: one model per message, read and written here only.

A node reports (``NodeReport``: inventory, labels, its servers with their tools) when something in it
changes, and beats (``Heartbeat``: its boot and its servers' states) every heartbeat interval. The hub
sends an ``Assignment`` per call and ``Control`` orders; the node answers with ``ProgressNote``s while
a call runs and one ``Outcome`` at its end. Errors cross as their stable codes and come back as the same
classes of ``corral.errors``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

import mcp_types as types
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from corral.cluster.models import Inventory
from corral.errors import (
    CircuitOpen,
    CorralError,
    InvalidArguments,
    NotFound,
    TaskLost,
    Unavailable,
    UnknownTool,
    UpstreamError,
    UpstreamTimeout,
)


class WireError(Exception):
    """A message that is not what the other side sends (another version, or garbage)."""


class _Message(BaseModel):
    # Unknown fields are ignored: a newer node may say more than this hub understands.
    model_config = ConfigDict(frozen=True, extra="ignore")


MessageT = TypeVar("MessageT", bound=_Message)


def encode(message: _Message) -> bytes:
    return message.model_dump_json(exclude_none=True).encode()


def decode(kind: type[MessageT], data: bytes) -> MessageT:
    """Raises: WireError."""
    try:
        return kind.model_validate_json(data)
    except ValidationError as exc:
        raise WireError(f"not a {kind.__name__}: {exc.errors()[0]['msg']}") from exc


# -- calls ------------------------------------------------------------------------------------------


class Assignment(_Message):
    """One tool call for a node to run."""

    call_id: str
    server: str
    """The server's name on the node."""
    tool: str
    arguments: dict[str, Any]
    meta: dict[str, Any] | None = None
    deadline_s: float
    """The call's deadline, restarted by each progress notification (as for a local server)."""
    expires_at: datetime
    """After this the hub no longer waits for it: a node that finds it this late drops it."""


class ProgressNote(_Message):
    progress: float
    total: float | None = None
    message: str | None = None


class CallError(_Message):
    code: str
    message: str


class Outcome(_Message):
    """How a call ended: the tool's result (an ``isError`` result included), or an error of the path."""

    call_id: str
    result: dict[str, Any] | None = None
    error: CallError | None = None

    @classmethod
    def of_result(cls, call_id: str, result: types.CallToolResult) -> Outcome:
        return cls(call_id=call_id, result=result.model_dump(mode="json", by_alias=True, exclude_none=True))

    @classmethod
    def of_error(cls, call_id: str, error: CorralError) -> Outcome:
        return cls(call_id=call_id, error=CallError(code=error.code, message=error.message))

    def unwrap(self, server: str) -> types.CallToolResult:
        """The result. Raises: the error the node met, as its ``corral.errors`` class; WireError."""
        if self.error is not None:
            raise ERRORS.get(self.error.code, UpstreamError)(self.error.message, server=server)
        if self.result is None:
            raise WireError("an outcome with neither a result nor an error")
        try:
            return types.CallToolResult.model_validate(self.result, by_name=False)
        except ValidationError as exc:
            raise WireError(f"the result is not a CallToolResult: {exc.errors()[0]['msg']}") from exc


ERRORS: dict[str, type[CorralError]] = {
    cls.code: cls
    for cls in (
        Unavailable,
        CircuitOpen,
        UpstreamError,
        UpstreamTimeout,
        TaskLost,
        NotFound,
        UnknownTool,
        InvalidArguments,
    )
}
"""The errors a node's outcome can carry, by code; any other code comes back as ``UpstreamError``."""


class Control(_Message):
    """An order from the hub to a node: cancel a call, restart a server or list its tools again."""

    action: Literal["cancel", "restart", "reload"]
    target: str
    """The call's id (cancel), or the server's name on the node."""


# -- liveness and inventory -------------------------------------------------------------------------


class ServerBeat(_Message):
    """A server's state as its node sees it now."""

    status: str
    detail: str = ""
    circuit_state: str = "closed"
    consecutive_failures: int = 0
    calls_in_flight: int = 0
    last_error: str | None = None
    latency_ms: float | None = None
    restarts: int = 0
    pid: int | None = None
    """On the node's machine."""
    uptime_s: float | None = None


class Heartbeat(_Message):
    boot_id: str
    seq: int
    servers: dict[str, ServerBeat] = {}


class HostedServer(_Message):
    """A server a node runs, as the hub needs to list and call it."""

    name: str
    spec: dict[str, Any]
    """The spec as the API shows it: env values and headers hidden."""
    call_timeout_s: float
    """The deadline of a call the caller sets none for (the node's default when the spec sets none)."""
    tools: list[dict[str, Any]] = []

    def tool_list(self) -> list[types.Tool]:
        """Raises: WireError."""
        try:
            return [types.Tool.model_validate(tool, by_name=False) for tool in self.tools]
        except ValidationError as exc:
            raise WireError(
                f"server {self.name!r}: a tool that is not a Tool: {exc.errors()[0]['msg']}"
            ) from exc


class NodeReport(_Message):
    boot_id: str
    labels: dict[str, str] = {}
    joined_at: datetime
    inventory: dict[str, Any] | None = None
    servers: list[HostedServer] = []

    def inventory_value(self) -> Inventory | None:
        """Raises: WireError."""
        if self.inventory is None:
            return None
        try:
            return _INVENTORY.validate_python(self.inventory)
        except ValidationError as exc:
            raise WireError(f"not an inventory: {exc.errors()[0]['msg']}") from exc


_INVENTORY: TypeAdapter[Inventory] = TypeAdapter(Inventory)


def inventory_json(inventory: Inventory | None) -> dict[str, Any] | None:
    if inventory is None:
        return None
    answer: dict[str, Any] = _INVENTORY.dump_python(inventory, mode="json")
    return answer
