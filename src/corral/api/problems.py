"""The one place errors become HTTP responses: RFC 9457 problem+json with a stable ``code``."""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse

from corral import strict
from corral.errors import (
    CircuitOpen,
    Conflict,
    CorralError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    StoreUnavailable,
    Unauthorized,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
)
from corral.secrets.redact import redact_data, redact_text
from corral.strict import UNKNOWN_FIELD

logger = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[CorralError], int] = {
    InvalidInput: 422,
    NotFound: 404,
    Conflict: 409,
    Unauthorized: 401,
    Forbidden: 403,
    RateLimited: 429,
    CircuitOpen: 503,
    Unavailable: 503,
    UpstreamTimeout: 504,
    UpstreamError: 502,
}

MEDIA_TYPE = "application/problem+json"
# Details an error carries that its caller may read: what was wrong, and which server refused in what state.
PUBLIC_DETAILS = ("errors", "server", "server_status", "circuit_state")


class Problem(BaseModel):
    """An error answer (RFC 9457). ``code`` is stable; ``detail`` is for people and may change."""

    model_config = ConfigDict(extra="allow")

    type: str
    title: str
    status: int
    code: str = Field(
        description="Stable, e.g. 'not_found', 'invalid_cursor', 'unknown_field', 'circuit_open'."
    )
    detail: str
    errors: list[Any] | None = Field(
        None,
        description="Everything that is wrong, for 422s. For a body that does not fit its schema, each "
        "has 'field', 'message', 'type' and, for an unknown field, 'did_you_mean' (the nearest known "
        "one); for content the hub refuses, each is a line naming the field.",
    )


_PROBLEM_SCHEMA = Problem.model_json_schema()
_MEANINGS = {
    400: "The body could not be read: not UTF-8, or not the media type it claims.",
    401: "No bearer token, or one that is not valid (now).",
    403: "The caller's role may not do this.",
    404: "No such thing.",
    409: "It clashes with the current state.",
    422: "The request's content is not acceptable; 'errors' says where.",
    429: "Too many requests from this token; Retry-After says when to try again.",
    502: "The upstream MCP server failed the request.",
    503: "The server cannot take the call now (down, disabled, circuit open), or the store cannot take a "
    "write (store_unavailable); the problem says why.",
    504: "The upstream MCP server did not answer in time.",
}
AUTHENTICATED = (401, 403, 429)
"""What every route behind a bearer token may answer."""


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route decorator's ``responses=``: each error status it may answer, as problem+json."""
    return {
        status: {"description": _MEANINGS[status], "content": {MEDIA_TYPE: {"schema": _PROBLEM_SCHEMA}}}
        for status in statuses
    }


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://corral.dev/problems/{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": redact_text(detail),  # a message may quote what was sent, a token included
        **redact_data(extra),
    }
    headers = {"WWW-Authenticate": 'Bearer realm="corral"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def status_of(error: CorralError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def install(app: FastAPI) -> None:
    async def corral_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, CorralError)
        extra = {key: exc.details[key] for key in PUBLIC_DETAILS if key in exc.details}
        response = problem(status_of(exc), exc.code, exc.message, **extra)
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after_s)))
        return response

    async def invalid_request(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        found = strict.problems(exc.errors())
        if not found:
            return problem(422, "invalid_request", "invalid request", errors=[])
        code = UNKNOWN_FIELD if found[0].type == UNKNOWN_FIELD else "invalid_request"
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        errors = [found_problem.to_json() for found_problem in found]
        return problem(422, code, f"{found[0]}{more}", errors=errors)

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        codes = {400: "unreadable_body", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        return problem(exc.status_code, code, str(exc.detail))

    async def store_error(request: Request, exc: Exception) -> JSONResponse:
        # The store failed under the request (a full disk, a database that went away): a clear 503 that
        # names why, not a 500; /readyz says not ready meanwhile, and the hub recovers by itself.
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        logger.warning("%s %s: the store failed: %s", request.method, request.url.path, reason)
        return await corral_error(request, StoreUnavailable(f"the store cannot take this now: {reason}"))

    app.add_exception_handler(CorralError, corral_error)
    app.add_exception_handler(OperationalError, store_error)
    app.add_exception_handler(InterfaceError, store_error)
    # asyncpg lets a refused connection through as the OS's error; nothing else under a route connects
    # to anything but the store without mapping its errors first (upstream calls raise CorralErrors).
    app.add_exception_handler(ConnectionError, store_error)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(HTTPException, http_error)
