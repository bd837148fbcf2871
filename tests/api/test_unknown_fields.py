"""Every request body refuses a key it does not know, naming it and the nearest known one.

The routes come from the OpenAPI document, so a new route with a body is covered without being listed
here; a body whose schema names no properties (it is checked by the hub's own models, e.g. a workflow
definition) needs a misspelt example below, and the test fails for one that has none.
"""

from __future__ import annotations

from typing import Any

import anyio
import httpx
import pytest

from tests.api.mcp_support import mcp_session
from tests.rig import RunHub
from tests.support import server_entry

pytestmark = pytest.mark.anyio

DEFINITION = {
    "workflow_id": "strict",
    "name": "Says hello",
    "params": {"who": {"type": "string", "default": "world"}},
    "steps": [{"id": "hello", "tool": "echo__echo", "args": {"text": "hello {{ params.who }}"}}],
}
# Bodies that are free-form in the document (checked by the hub's models): one misspelt key each.
MISSPELT: dict[tuple[str, str], tuple[dict[str, Any], str, str]] = {
    ("POST", "/api/v1/workflows"): (
        {"workflow_id": "w", "name": "n", "stepz": DEFINITION["steps"]},
        "stepz",
        "steps",
    ),
    ("PATCH", "/api/v1/settings"): ({"failure_treshold": 3}, "failure_treshold", "failure_threshold"),
    ("PUT", "/api/v1/servers/{name}"): ({"command": "uvx", "argz": []}, "argz", "args"),
}


def concrete(path: str) -> str:
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + "no-such-thing" + path[end + 1 :]
    return path


def body_routes(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, the body's schema) of every operation that takes a JSON body."""
    schemas = document["components"]["schemas"]
    routes = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            schema = content["application/json"]["schema"]
            if "$ref" in schema:
                schema = schemas[schema["$ref"].rsplit("/", 1)[-1]]
            routes.append((method.upper(), path, schema))
    return sorted(routes, key=lambda route: (route[1], route[0]))


def misspelt(method: str, path: str, schema: dict[str, Any]) -> tuple[dict[str, Any], str, str]:
    """A body with one misspelt key: (body, the key sent, the key meant)."""
    if (method, path) in MISSPELT:
        return MISSPELT[(method, path)]
    properties = schema.get("properties")
    assert properties, f"{method} {path}: give a misspelt body in MISSPELT"
    meant = next(iter(properties))
    return {meant + "x": "anything"}, meant + "x", meant


async def test_every_route_with_a_body_refuses_an_unknown_field_and_names_the_nearest_known_one(
    run_hub: RunHub,
) -> None:
    async with run_hub() as running:
        document = (await running.client.get("/openapi.json")).json()
        routes = body_routes(document)
        failures = []
        for method, path, schema in routes:
            body, sent, meant = misspelt(method, path, schema)
            response = await running.client.request(method, concrete(path), json=body)
            problem = response.json()
            expected = f"unknown field {sent!r}; did you mean {meant!r}?"
            if response.status_code != 422 or problem.get("code") != "unknown_field":
                failures.append(f"{method} {path}: {response.status_code} {response.text[:200]}")
            elif expected not in problem["detail"]:
                failures.append(f"{method} {path}: detail {problem['detail']!r} lacks {expected!r}")
            elif schema.get("additionalProperties") is not False and (method, path) not in MISSPELT:
                failures.append(f"{method} {path}: the document does not say additionalProperties: false")

    assert len(routes) >= 14
    assert failures == []


async def test_a_misspelt_parameters_starts_nothing_and_says_what_was_meant(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        client = running.client
        assert (await client.post("/api/v1/workflows", json=DEFINITION)).status_code == 201

        refused = await client.post("/api/v1/workflows/strict/execute", json={"params": {"who": "you"}})
        two = await client.post(
            "/api/v1/workflows/strict/execute", json={"params": {"who": "you"}, "target_machine": ["a"]}
        )
        executions = (await client.get("/api/v1/executions")).json()["items"]

    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    problem = refused.json()
    assert problem["code"] == "unknown_field"
    assert problem["detail"] == "body.params: unknown field 'params'; did you mean 'parameters'?"
    assert problem["errors"] == [
        {
            "field": "body.params",
            "message": "unknown field 'params'; did you mean 'parameters'?",
            "type": "unknown_field",
            "did_you_mean": "parameters",
        }
    ]
    assert [(error["field"], error["did_you_mean"]) for error in two.json()["errors"]] == [
        ("body.params", "parameters"),
        ("body.target_machine", "target_machines"),
    ]
    assert "(and 1 more)" in two.json()["detail"]
    assert executions == []


async def test_an_unknown_key_deep_in_a_definition_is_named_with_its_path(run_hub: RunHub) -> None:
    definition = {**DEFINITION, "steps": [{**DEFINITION["steps"][0], "retry": {"attempt": 3}}]}
    async with run_hub() as running:
        refused = await running.client.post("/api/v1/workflows", json=definition)

    assert refused.status_code == 422
    assert refused.json()["code"] == "unknown_field"
    assert refused.json()["detail"].startswith(
        "invalid workflow definition: steps.0.retry.attempt: unknown field 'attempt'; "
        "did you mean 'attempts'?"
    )


async def test_an_unknown_parameter_of_a_workflow_names_the_nearest_one(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        assert (await running.client.post("/api/v1/workflows", json=DEFINITION)).status_code == 201
        refused = await running.client.post(
            "/api/v1/workflows/strict/execute", json={"parameters": {"whom": "you"}}
        )

    assert refused.status_code == 422
    assert refused.json()["detail"] == "params.whom: not a parameter of 'strict'; did you mean 'who'?"


async def test_management_tools_refuse_unknown_arguments_with_the_same_words(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        assert (await running.client.post("/api/v1/workflows", json=DEFINITION)).status_code == 201
        token = running.hub.admin_token
        assert token is not None
        async with mcp_session(running, token) as client:
            refused = await client.call_tool(
                "execute_workflow", {"workflow_id": "strict", "params": {"who": "you"}}
            )
            listed = (await client.list_tools()).tools
        executions = (await running.client.get("/api/v1/executions")).json()["items"]

    assert refused.is_error
    assert refused.content[0].text == (  # type: ignore[union-attr]
        "invalid arguments for execute_workflow: params: unknown field 'params'; did you mean 'parameters'?"
    )
    schema = next(tool.input_schema for tool in listed if tool.name == "execute_workflow")
    assert schema["additionalProperties"] is False
    assert executions == []


async def test_a_body_without_unknown_fields_still_goes_through(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        client: httpx.AsyncClient = running.client
        assert (await client.post("/api/v1/workflows", json=DEFINITION)).status_code == 201
        started = await client.post("/api/v1/workflows/strict/execute", json={"parameters": {"who": "you"}})
        with anyio.fail_after(30):
            finished = await running.hub.workflows.wait_finished(started.json()["execution_id"])

    assert started.status_code == 202
    assert finished.status.value == "completed"
