"""The one place Corral's errors become JSON-RPC errors on the MCP endpoints."""

from __future__ import annotations

from typing import Any

import mcp_types as types
from mcp import MCPError

from corral.errors import (
    CircuitOpen,
    CorralError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unavailable,
    UpstreamTimeout,
)

# Implementation-defined server errors live in -32000..-32099; -32002 is MCP's "resource not found".
UNAVAILABLE = -32003
UPSTREAM_FAILED = -32004
FORBIDDEN = -32005
RATE_LIMITED = -32006

_CODES: dict[type[CorralError], int] = {
    InvalidInput: types.INVALID_PARAMS,
    NotFound: types.INVALID_PARAMS,
    CircuitOpen: UNAVAILABLE,
    Unavailable: UNAVAILABLE,
    UpstreamTimeout: types.REQUEST_TIMEOUT,
    Forbidden: FORBIDDEN,
    RateLimited: RATE_LIMITED,
}


def to_mcp_error(error: CorralError) -> MCPError:
    code = next((_CODES[cls] for cls in type(error).__mro__ if cls in _CODES), UPSTREAM_FAILED)
    data: dict[str, Any] = {"code": error.code}
    if isinstance(error, Forbidden | RateLimited):
        data.update(error.details)  # the role needed / the seconds to wait
    return MCPError(code=code, message=error.message, data=data)
