"""The one place Corral's errors become JSON-RPC errors on the MCP endpoints."""

from __future__ import annotations

import mcp_types as types
from mcp import MCPError

from corral.errors import CircuitOpen, CorralError, InvalidInput, NotFound, Unavailable, UpstreamTimeout

# Implementation-defined server errors live in -32000..-32099; -32002 is MCP's "resource not found".
UNAVAILABLE = -32003
UPSTREAM_FAILED = -32004

_CODES: dict[type[CorralError], int] = {
    InvalidInput: types.INVALID_PARAMS,
    NotFound: types.INVALID_PARAMS,
    CircuitOpen: UNAVAILABLE,
    Unavailable: UNAVAILABLE,
    UpstreamTimeout: types.REQUEST_TIMEOUT,
}


def to_mcp_error(error: CorralError) -> MCPError:
    code = next((_CODES[cls] for cls in type(error).__mro__ if cls in _CODES), UPSTREAM_FAILED)
    return MCPError(code=code, message=error.message, data={"code": error.code})
