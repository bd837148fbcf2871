"""The kinds of failure of a tool call that retry policies name, and which error of the call path is
which kind: one table for workflow steps and tasks alike."""

from __future__ import annotations

from typing import Literal

from corral.errors import CorralError, InvalidArguments, NotFound, Unavailable, UpstreamTimeout

FailureKind = Literal["tool_error", "timeout", "unavailable", "upstream_error", "invalid_arguments"]

FAILURE_KINDS: dict[type[CorralError], FailureKind] = {
    UpstreamTimeout: "timeout",
    Unavailable: "unavailable",  # and CircuitOpen
    NotFound: "unavailable",  # and UnknownTool: the server may not list it yet, or again
    InvalidArguments: "invalid_arguments",
    CorralError: "upstream_error",
}
"""The failure kind of each error of the call path: the most specific class of the error wins.
``tool_error`` is the tool's own ``isError`` answer, not an error of the path."""


def failure_kind(error: CorralError) -> FailureKind:
    return next(FAILURE_KINDS[cls] for cls in type(error).__mro__ if cls in FAILURE_KINDS)
