"""The REST API fuzzed from its own OpenAPI document (schemathesis) against a real `corral serve`.

Every operation the document lists gets generated requests, valid and invalid, sent with the admin
token; every answer must be no 5xx, have a documented status and content type, and match the
documented schema. Path parameters are drawn partly from the hub's real resources (a server, a
workflow, an execution with its steps, a pattern, an application, a user, a token), so routes answer
200 as well as 404. The run is seeded and derandomized, so CI sees the same requests every time.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any

import hypothesis
import hypothesis.strategies as st
import pytest
import schemathesis
from hypothesis.strategies import SearchStrategy
from schemathesis import APIOperation, BaseSchema, Case, GenerationMode, HookContext
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support import HubProcess, launch_hub, server_entry, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

EXAMPLES_PER_OPERATION = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

KEPT_SERVER = "echo"
"""The server every server route can find; the fuzzer may not take it away (see ``spares_the_fleet``)."""

WORKFLOW = {
    "workflow_id": "fuzz.greeting",
    "name": "Greets and adds",
    "params": {"who": {"type": "string", "default": "world"}},
    "steps": [
        {"id": "hello", "tool": "echo__echo", "args": {"text": "hello {{ params.who }}"}},
        {"id": "sum", "tool": "echo__add", "args": {"a": 2, "b": 3}, "dependencies": ["hello"]},
    ],
}


def _ok(response: Any) -> dict[str, Any]:
    assert response.status_code < 300, response.text
    body: dict[str, Any] = response.json()
    return body


Known = dict[str, dict[str, list[str]]]
"""Real values of each path parameter, by collection (``servers`` in ``/api/v1/servers/{name}``)."""


def _resources(hub: HubProcess) -> Known:
    """Make one of each kind of resource through the API."""
    _ok(hub.post("/api/v1/servers", json={"name": "spare", "config": server_entry("echo")}))
    hub.wait_status("spare", "healthy")  # and so /readyz answers 200
    _ok(hub.post("/api/v1/workflows", json=WORKFLOW))
    execution_id = _ok(hub.post(f"/api/v1/workflows/{WORKFLOW['workflow_id']}/execute", json={}))[
        "execution_id"
    ]
    wait_until(lambda: hub.get(f"/api/v1/executions/{execution_id}").json()["status"] == "completed")
    application_id = _ok(hub.post("/api/v1/patterns/smoke-test/apply", json={"target": KEPT_SERVER}))[
        "application_id"
    ]
    _ok(hub.post("/api/v1/users", json={"name": "fuzz-viewer", "password": "a long password"}))
    token_id = _ok(hub.post("/api/v1/tokens", json={"name": "fuzz", "role": "viewer"}))["id"]
    return {
        "servers": {"name": [KEPT_SERVER, "spare"]},
        "tools": {"name": ["echo__echo", "echo__add"]},
        "users": {"name": ["fuzz-viewer"]},
        "workflows": {"workflow_id": [WORKFLOW["workflow_id"]]},
        "executions": {"execution_id": [execution_id], "step": ["hello", "sum"]},
        "patterns": {
            "pattern_id": ["smoke-test", "restart-and-verify", "rolling-restart"],
            "application_id": [application_id],
        },
        "tokens": {"token_id": [token_id]},
        "nodes": {"name": [node["name"] for node in _ok(hub.get("/api/v1/nodes"))["items"]]},
    }


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubProcess]:
    config = {
        "mcpServers": {KEPT_SERVER: server_entry("echo")},
        # The fuzzer sends far more than a person would; rate limits would answer most of it 429.
        "hub": {"auth": {"rate_limit_per_s": 0, "login_rate_per_s": 0}},
    }
    running = launch_hub(tmp_path_factory.mktemp("fuzz"), config)
    try:
        running.wait_status(KEPT_SERVER, "healthy")
        yield running
    finally:
        running.stop(signal.SIGTERM)


def spares_the_fleet(_: HookContext, case: Case) -> bool:
    """Leave out requests that would take away what the rest of the run needs.

    Disabling or deleting the kept server would turn every later server request into a 404 or a
    `disabled`; replacing its spec would stop it; restarting it would have the tool calls that follow
    meet a server on its way back up (a 503, as documented, but not a bug). Registering or replacing a
    server runs the program its config names, and the fuzzer must not run arbitrary programs on this
    machine. The admin token is the hub's bootstrap token, which no route can revoke or delete, so the
    token and user routes need no such care.
    """
    path_name = (case.path_parameters or {}).get("name")
    if case.path.startswith("/api/v1/servers/{name}") and path_name == KEPT_SERVER:
        return case.method == "GET" or case.path.endswith(("/reload", "/enable"))
    if case.path in ("/api/v1/servers", "/api/v1/servers/{name}") and case.method in ("POST", "PUT"):
        return not _runs_a_program(case.body)
    return True


def _runs_a_program(body: Any) -> bool:
    config = body.get("config", body) if isinstance(body, dict) else None
    return isinstance(config, dict) and ("command" in config or "url" in config)


def _with_real_values(known: Known) -> Any:
    """Path parameters drawn from the generated values or, as often as Hypothesis picks it, the real ones."""

    def before_generate_path_parameters(context: HookContext, strategy: SearchStrategy[Any]) -> Any:
        assert context.operation is not None
        collection = context.operation.path.removeprefix("/api/v1/").split("/")[0]
        values = known.get(collection, {})
        names = [parameter.name for parameter in context.operation.path_parameters]
        if not names or not all(name in values for name in names):
            return strategy
        real = st.fixed_dictionaries({name: st.sampled_from(values[name]) for name in names})
        return st.one_of(real, strategy)

    return before_generate_path_parameters


@pytest.fixture(scope="module")
def api_schema(hub: HubProcess) -> BaseSchema:
    loaded = schemathesis.openapi.from_url(f"{hub.url}/openapi.json")
    loaded.hook("before_generate_path_parameters")(_with_real_values(_resources(hub)))
    loaded.hook("filter_case")(spares_the_fleet)
    return loaded


def test_every_operation_answers_as_documented_and_never_with_a_server_error(
    api_schema: BaseSchema, hub: HubProcess, subtests: pytest.Subtests
) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 40, "the document lists every operation"
    for operation in operations:
        with subtests.test(msg=operation.label):
            _fuzz(operation, hub.headers())


def _fuzz(operation: APIOperation, headers: dict[str, str]) -> None:
    """Valid and invalid requests for one operation; any failed check fails it, with the request shown.

    The operations are driven from here rather than by ``schemathesis.pytest.from_fixture``, whose lazy
    loader renames the pytest item through ``Node._nodeid``, which pytest 9.2 no longer has.
    """
    cases = st.one_of([operation.as_strategy(generation_mode=mode) for mode in GenerationMode])

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    @hypothesis.given(case=cases)
    def requests_for(case: Case) -> None:
        case.call_and_validate(headers=headers, checks=CHECKS)

    requests_for()
