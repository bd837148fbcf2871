"""The OpenAPI document lists the error answers every route inherits, in the shape they are sent."""

from __future__ import annotations

from typing import Any

import pytest

from tests.rig import RunHub

pytestmark = pytest.mark.anyio

PROBLEM = "application/problem+json"


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
    ]


async def test_every_operation_documents_the_errors_of_the_layers_around_it(run_hub: RunHub) -> None:
    async with run_hub() as running:
        document = (await running.client.get("/openapi.json")).json()

    for method, path, operation in operations(document):
        answers = operation["responses"]
        errors = {status for status in answers if status.startswith(("4", "5"))}
        if path.startswith("/api/") and path != "/api/v1/auth/login":
            assert {"401", "403", "429"} <= errors, (method, path)
        if "{" in path:
            assert "404" in errors, (method, path)
        if "requestBody" in operation:
            assert {"400", "422"} <= errors, (method, path)
        problems = errors - {"503"} if path == "/readyz" else errors  # not ready yet: a JSON status
        for status in problems:
            assert set(answers[status]["content"]) == {PROBLEM}, (method, path, status)
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas


async def test_a_body_that_is_not_utf8_is_answered_with_a_problem_that_says_so(run_hub: RunHub) -> None:
    async with run_hub() as running:
        response = await running.client.post(
            "/api/v1/users", content=b'{"name": "\xff\xfe"}', headers={"Content-Type": "application/json"}
        )

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "unreadable_body"
