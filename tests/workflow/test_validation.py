"""Definitions are checked when stored: each problem named with its step and field, tools checked for real.

One engine serves the whole module (on SQLite), with the module's fleet of real test servers, so
"unknown tool" and "unknown server" are judged against real catalogs.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from typing import Any

import pytest

from corral.errors import InvalidInput, NotFound
from corral.registry.models import ServerSpec
from tests.support import server_entry
from tests.workflow.conftest import Fleet, Rig, open_engine, workflow

pytestmark = pytest.mark.anyio

_ids = itertools.count()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def rig(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Rig]:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('validation') / 'store.db'}"
    async with open_engine(fleet, url) as running:
        yield running


def fresh_id() -> str:
    return f"wf-{next(_ids)}"


def echo(step_id: str, *dependencies: str, text: str = "hi", **fields: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "tool": "echo__echo",
        "args": {"text": text},
        "dependencies": list(dependencies),
        **fields,
    }


async def refused(rig: Rig, document: dict[str, Any]) -> InvalidInput:
    """Create must refuse ``document``, list every error, and store nothing."""
    with pytest.raises(InvalidInput) as caught:
        await rig.engine.create(document)
    errors = caught.value.details["errors"]
    assert errors and all(isinstance(error, str) for error in errors)
    assert str(errors[0]) in caught.value.message
    with pytest.raises(NotFound):
        await rig.engine.definition(document["workflow_id"])
    return caught.value


MALFORMED: list[Any] = [
    pytest.param(
        [echo("a"), echo("b", "ghost")],
        "steps.b.dependencies: depends on unknown step 'ghost'",
        id="unknown-dependency",
    ),
    pytest.param(
        [echo("a", "c"), echo("b", "a"), echo("c", "b")],
        "dependencies: dependency cycle: ",
        id="cycle",
    ),
    pytest.param([echo("a", "a")], "steps.a.dependencies: depends on itself", id="self-dependency"),
    pytest.param(
        [echo("a"), echo("b", "a"), echo("c", "a", text="{{ steps.b.result }}")],
        "steps.c.args.text: refers to steps.b, which is not upstream of this step",
        id="reference-to-a-sibling",
    ),
    pytest.param(
        [echo("a"), echo("b", "a", when="steps.c.status == 'completed'"), echo("c", "a")],
        "steps.b.when: refers to steps.c, which is not upstream of this step",
        id="condition-on-a-sibling",
    ),
    pytest.param(
        [echo("a", text="{{ steps.ghost.result }}")],
        "steps.a.args.text: refers to steps.ghost, which is not a step",
        id="reference-to-an-unknown-step",
    ),
    pytest.param(
        [echo("a", text="{{ params.x + }}")], "steps.a.args.text: syntax error", id="template-syntax-error"
    ),
    pytest.param(
        [echo("a", text="{% if true %}yes{% endif %}")],
        "steps.a.args.text: statement blocks ({% ... %}) are not allowed",
        id="statement-block",
    ),
    pytest.param(
        [echo("a", text="{{ secrets.token }}")],
        "steps.a.args.text: unknown name 'secrets'",
        id="unknown-name",
    ),
    pytest.param(
        [echo("a", text="{{ params.__class__ }}")],
        "steps.a.args.text: private attribute '__class__' is not allowed",
        id="private-attribute",
    ),
    pytest.param(
        [echo("a", text="{{ item }}")],
        "steps.a.args.text: 'item' and 'index' exist only in a for_each step's args",
        id="item-outside-for-each",
    ),
    pytest.param(
        [echo("a", for_each="[index]")],
        "steps.a.for_each: 'item' and 'index' exist only in a for_each step's args",
        id="index-in-the-for-each-expression",
    ),
    pytest.param(
        [{"id": "a", "tool": "nowhere__echo", "args": {"text": "x"}}],
        "steps.a.tool: unknown server 'nowhere'",
        id="unknown-server",
    ),
    pytest.param(
        [{"id": "a", "tool": "echo__shout", "args": {"text": "x"}}],
        "steps.a.tool: server 'echo' has no tool 'shout'",
        id="unknown-tool-on-a-known-server",
    ),
    pytest.param(
        [{"id": "a", "tool": "shout", "server": "echo"}],
        "steps.a.tool: server 'echo' has no tool 'shout'",
        id="unknown-tool-named-with-server",
    ),
    pytest.param(
        [{"id": "a", "tool": "echo", "args": {"text": "x"}}],
        "steps.a.tool: 'echo' names no server",
        id="tool-without-a-server",
    ),
    pytest.param(
        [{"id": "a", "tool": "echo__echo", "workflow": "other"}],
        "steps.0: a step needs exactly one of 'tool' or 'workflow'",
        id="both-tool-and-workflow",
    ),
    pytest.param(
        [{"id": "a", "args": {"text": "x"}}],
        "steps.0: a step needs exactly one of 'tool' or 'workflow'",
        id="neither-tool-nor-workflow",
    ),
    pytest.param(
        [{"id": "a", "workflow": "other", "server": "echo"}],
        "steps.0: 'server' goes with 'tool'",
        id="server-without-a-tool",
    ),
    pytest.param([echo("bad-id")], "steps.0.id: step id 'bad-id' must be", id="invalid-step-id"),
    pytest.param([echo("a"), echo("b"), echo("a")], "steps.a.id: duplicate step id", id="duplicate-step-ids"),
    pytest.param(
        [{**echo("a"), "parameters": {"text": "x"}}],
        "steps.0: give 'args' or 'parameters', not both",
        id="args-and-parameters",
    ),
    pytest.param(
        [{**echo("a"), "retries": 3}],
        "steps.0.retries: unknown field 'retries'; did you mean 'retry'?",
        id="unknown-field",
    ),
    pytest.param(
        [{"id": "a", "workflow": "ghost-workflow"}],
        "steps.a.workflow: unknown workflow 'ghost-workflow'",
        id="unknown-sub-workflow",
    ),
]


@pytest.mark.parametrize(("steps", "expected"), MALFORMED)
async def test_a_malformed_definition_is_refused_with_its_step_and_field_named(
    rig: Rig, steps: list[dict[str, Any]], expected: str
) -> None:
    error = await refused(rig, workflow(fresh_id(), *steps))
    assert expected in error.message
    assert any(expected in text for text in error.details["errors"])


async def test_a_workflow_cannot_run_itself_as_a_step(rig: Rig) -> None:
    workflow_id = fresh_id()
    error = await refused(rig, workflow(workflow_id, {"id": "again", "workflow": workflow_id}))
    assert "steps.again.workflow: a workflow cannot run itself" in error.message


async def test_every_problem_is_listed_not_just_the_first(rig: Rig) -> None:
    error = await refused(
        rig,
        workflow(
            fresh_id(),
            {"id": "a", "tool": "echo__shout"},
            echo("b", text="{{ nothing }}"),
            {"id": "c", "tool": "nowhere__x"},
        ),
    )
    assert error.details["errors"] == [
        "steps.a.tool: server 'echo' has no tool 'shout'",
        "steps.b.args.text: unknown name 'nothing'; use one of execution, index, item, params, steps",
        "steps.c.tool: unknown server 'nowhere'",
    ]
    assert "(and 2 more)" in error.message


async def test_a_bad_workflow_id_is_refused(rig: Rig) -> None:
    error = await refused(rig, workflow("has spaces", echo("a")))
    assert "workflow_id" in error.message


async def test_parameters_is_accepted_as_another_name_for_args(rig: Rig) -> None:
    document = workflow(fresh_id(), {"id": "a", "tool": "echo__echo", "parameters": {"text": "by alias"}})
    stored, warnings = await rig.engine.create(document)
    assert warnings == []
    assert stored.definition.step("a").args == {"text": "by alias"}
    result = await rig.finish(await rig.engine.execute(stored.definition.workflow_id))
    assert result["status"] == "completed"
    assert result["steps"][0]["result"] == "by alias"


async def test_a_tool_may_be_named_by_plain_name_with_its_server(rig: Rig) -> None:
    stored, warnings = await rig.engine.create(
        workflow(fresh_id(), {"id": "a", "tool": "echo", "server": "echo", "args": {"text": "x"}})
    )
    assert warnings == []
    assert stored.definition.step("a").target() == ("echo", "echo")


async def test_a_known_sub_workflow_is_accepted(rig: Rig) -> None:
    child, _ = await rig.engine.create(workflow(fresh_id(), echo("a")))
    stored, warnings = await rig.engine.create(
        workflow(fresh_id(), {"id": "run_child", "workflow": child.definition.workflow_id})
    )
    assert warnings == []
    assert stored.version == 1


async def test_a_fan_out_wider_than_max_parallel_is_stored_with_a_warning(rig: Rig) -> None:
    fan = [echo("start"), *(echo(f"w{n:02d}", "start") for n in range(50))]

    _, capped = await rig.engine.create(workflow(fresh_id(), *fan))
    _, room = await rig.engine.create({**workflow(fresh_id(), *fan), "max_parallel": 50})
    _, items = await rig.engine.create(
        workflow(fresh_id(), echo("each", for_each="{{ [1, 2, 3] }}", concurrency=16))
    )

    assert [str(warning) for warning in capped] == [
        "max_parallel: 50 steps (w00, w01, w02, ...) may run at once, but max_parallel is 8: "
        "the others wait; set max_parallel to 50 to run them together"
    ]
    assert room == []
    assert [(warning.step, warning.field, warning.severity) for warning in items] == [
        ("each", "concurrency", "warning")
    ]
    assert "max_parallel is 8, which counts items too" in str(items[0])


async def test_a_server_that_is_merely_down_gives_a_warning_and_the_definition_is_stored(rig: Rig) -> None:
    rig.supervisor.apply(ServerSpec.from_client_entry("down", server_entry("crashing", CRASH_ON_START="1")))
    try:
        await rig.next_event(
            lambda event: (
                event.type == "server.status"
                and event.subject == "down"
                and event.data["status"] in ("disconnected", "circuit_open")
            )
        )
        workflow_id = fresh_id()
        stored, warnings = await rig.engine.create(workflow(workflow_id, {"id": "a", "tool": "down__work"}))
    finally:
        rig.supervisor.forget("down")
    assert [(warning.step, warning.field, warning.severity) for warning in warnings] == [
        ("a", "tool", "warning")
    ]
    assert "server 'down' is down now" in str(warnings[0])
    assert (await rig.engine.definition(workflow_id)).version == stored.version == 1


async def test_every_change_creates_a_new_version(rig: Rig) -> None:
    workflow_id = fresh_id()
    first, _ = await rig.engine.create(workflow(workflow_id, echo("a", text="one")))
    second, _ = await rig.engine.create(workflow(workflow_id, echo("a", text="two")))
    assert (first.version, second.version) == (1, 2)
    assert (await rig.engine.definition(workflow_id)).definition.step("a").args == {"text": "two"}
    assert (await rig.engine.definition(workflow_id, 1)).definition.step("a").args == {"text": "one"}
    assert [stored.version for stored in await rig.store.versions(workflow_id)] == [1, 2]


async def test_a_running_execution_keeps_the_version_it_started_with(rig: Rig) -> None:
    workflow_id = fresh_id()
    slow = {"id": "work", "tool": "slow__slow", "args": {"steps": 20, "delay": 0.05}}
    await rig.engine.create(workflow(workflow_id, slow))
    execution_id = await rig.engine.execute(workflow_id)
    # Progress from the upstream shows the step is under way.
    await rig.execution_event(execution_id, "step.progress")
    second, _ = await rig.engine.create(workflow(workflow_id, {**slow, "id": "renamed"}, echo("extra")))
    assert second.version == 2

    running = await rig.engine.status(execution_id)
    assert (running["status"], running["version"]) == ("running", 1)
    assert set(running["step_states"]) == {"work"}

    finished = await rig.finish(execution_id)
    assert (finished["status"], finished["version"]) == ("completed", 1)
    assert finished["steps"][0]["result"] == "done after 20 steps"
    later = await rig.engine.execute(workflow_id)
    assert (await rig.engine.status(later))["version"] == 2
    assert (await rig.finish(later))["status"] == "completed"
