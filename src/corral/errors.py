"""The one error tree of Corral.

Every error a person may see is a ``CorralError`` with a stable ``code``. The
boundaries (HTTP, JSON-RPC, CLI) map codes to their own vocabulary in one place
each; nothing else catches broad exceptions.
"""

from __future__ import annotations

from typing import Any, ClassVar


class CorralError(Exception):
    """Base of every error Corral raises on purpose."""

    code: ClassVar[str] = "internal"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ConfigError(CorralError):
    """A configuration file or setting is wrong; the message names where and why."""

    code = "config_invalid"


class InvalidInput(CorralError):
    """A request is well-formed but its content is not acceptable."""

    code = "invalid_input"


class UnknownField(InvalidInput):
    """A key the input does not have; the message names it and the nearest known one."""

    code = "unknown_field"


class InvalidCursor(InvalidInput):
    """A list's ``cursor`` that the list did not hand out."""

    code = "invalid_cursor"


class InvalidArguments(InvalidInput):
    """Tool arguments that do not fit the tool's ``inputSchema``; the message names the field."""

    code = "invalid_arguments"


class NotFound(CorralError):
    """A named thing (server, tool, setting) does not exist."""

    code = "not_found"


class UnknownTool(NotFound):
    """No tool the gateway exposes has that name."""

    code = "unknown_tool"


class Conflict(CorralError):
    """The request clashes with the current state (e.g. a name already taken)."""

    code = "conflict"


class Unauthorized(CorralError):
    """No credential, or one that is not valid."""

    code = "unauthorized"


class Forbidden(CorralError):
    """A valid credential that may not do this."""

    code = "forbidden"


class Unavailable(CorralError):
    """A server cannot take the call right now (down, circuit open, disabled)."""

    code = "unavailable"


class StoreUnavailable(Unavailable):
    """The store cannot take writes now (its disk is full, or the database does not answer)."""

    code = "store_unavailable"


class CircuitOpen(Unavailable):
    """The server's circuit breaker is open: calls fail fast until it recovers."""

    code = "circuit_open"


class FabricUnavailable(Unavailable):
    """The NATS server of a scale-out deployment cannot be reached, or did not answer in time."""

    code = "nats_unavailable"


class UpstreamError(CorralError):
    """An upstream MCP server failed the request (timeout, connection lost, protocol error)."""

    code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    """An upstream MCP server did not answer within the deadline."""

    code = "upstream_timeout"


class TaskLost(UpstreamError):
    """An upstream server no longer knows a task it ran for Corral (it restarted, or the task expired)."""

    code = "task_lost"


class InvalidCredentials(Unauthorized):
    """A login with a user name or password that does not match."""

    code = "invalid_credentials"


class TokenExpired(Unauthorized):
    """A token that was valid once and has expired."""

    code = "token_expired"


class TokenRevoked(Unauthorized):
    """An API token that was revoked."""

    code = "token_revoked"


class RateLimited(CorralError):
    """A token sent more requests than its rate allows; ``retry_after_s`` says when to try again."""

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float) -> None:
        super().__init__(message, retry_after_s=retry_after_s)
        self.retry_after_s = retry_after_s
