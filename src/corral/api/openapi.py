"""The error answers in the OpenAPI document, derived from the layers every route sits behind.

Every error is problem+json (``corral.api.problems``). The errors that come from around a route
rather than from its own logic are added here to the generated document, so no route can forget
them: 401 and 429 on every path behind the bearer token (429 also on logging in, which has its own
limit), 403 where a role is checked, 404 on every path that names a thing, 400 on every route that
takes a body (one that is not UTF-8 cannot even be parsed), and the problem shape in place of
FastAPI's own for each 422 FastAPI documents (a request that does not fit the route's parameters
or body). Errors of a route's own logic (a 409 when a name is taken) it declares itself with
``responses=documented(409)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from corral.api.auth import OPEN_PATHS, PROTECTED_PREFIXES
from corral.api.problems import AUTHENTICATED, documented

# FastAPI's own 422 body, which Corral never sends: invalid requests are answered as problems.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` list the errors every route inherits; call once all routes are added."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        fresh = app.openapi_schema is None
        document = generate()
        if fresh:
            for path, operations in document.get("paths", {}).items():
                for operation in operations.values():
                    operation["responses"] = _with_errors(path, operation)
            schemas = document.get("components", {}).get("schemas", {})
            for name in _FASTAPI_VALIDATION_SCHEMAS:
                schemas.pop(name, None)
        return document

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the document


def _with_errors(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    declared = dict(operation.get("responses", {}))
    statuses: list[int] = [400] if "requestBody" in operation else []
    if path.startswith(PROTECTED_PREFIXES):
        statuses += AUTHENTICATED if path not in OPEN_PATHS else [429]
    if "{" in path:
        statuses.append(404)
    if _is_fastapi_validation_error(declared.get("422")):
        del declared["422"]
        statuses.append(422)
    inherited = {str(status): answer for status, answer in documented(*statuses).items()}
    return {**inherited, **declared}


def _is_fastapi_validation_error(answer: dict[str, Any] | None) -> bool:
    schema = (answer or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).rsplit("/", 1)[-1] == "HTTPValidationError"
