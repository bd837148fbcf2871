"""Executions end to end: an in-process engine, a real supervisor, real test servers, SQLite and PostgreSQL.

Every wait is for the engine's own signal (``wait_finished``, an execution event on the bus) under
``fail_after``; the only injected piece is the wait between retries, which records what was asked.
The module shares one fleet of servers (see conftest); each test has its own engine and store.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from corral.errors import Conflict, InvalidInput
from tests.support import server_entry
from tests.workflow.conftest import Fleet, RigFactory, workflow

pytestmark = pytest.mark.anyio

_names = itertools.count()


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


def unique(name: str) -> str:
    """A server name for one test's own server (the fleet outlives the test)."""
    return f"{name}{next(_names)}"


def echo(step_id: str, text: str, *dependencies: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": step_id,
        "tool": "echo__echo",
        "args": {"text": text},
        "dependencies": list(dependencies),
        **fields,
    }


def add(step_id: str, a: Any, b: Any, *dependencies: str) -> dict[str, Any]:
    return {"id": step_id, "tool": "echo__add", "args": {"a": a, "b": b}, "dependencies": list(dependencies)}


def results(status: dict[str, Any]) -> dict[str, Any]:
    return {run["key"]: run["result"] for run in status["steps"]}


def seqs_of(events: list[dict[str, Any]], type_: str, step: str) -> list[int]:
    return [event["seq"] for event in events if event["type"] == type_ and event["step"] == step]


def peak_running(events: list[dict[str, Any]], keys: set[str]) -> int:
    """The most of ``keys`` running at once, in the order the store recorded their starts and ends."""
    running = peak = 0
    for event in events:
        if event["step"] in keys:
            if event["type"] == "step.started":
                running += 1
            elif event["type"] in ("step.completed", "step.failed"):
                running -= 1
            peak = max(peak, running)
    return peak


def records(fleet: Fleet, prefix: str = "") -> list[dict[str, Any]]:
    """The recorder's lines whose key starts with ``prefix``."""
    path = fleet.record_file
    lines = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [line for line in lines if line["key"].startswith(prefix)]


# -- shapes ------------------------------------------------------------------------------------------


async def test_a_chain_runs_in_order_and_each_step_sees_the_one_before(workflow_rig: RigFactory) -> None:
    async with workflow_rig() as rig:
        status = await rig.run(
            workflow(
                "chain",
                echo("a", "x"),
                echo("b", "{{ steps.a.result }}-y", "a"),
                echo("c", "{{ steps.b.result }}-z", "b"),
            )
        )
        assert status["status"] == "completed"
        assert status["error"] is None
        assert results(status) == {"a": "x", "b": "x-y", "c": "x-y-z"}
        assert status["progress"] == 1.0
        events = await rig.events_of(status["execution_id"])
        assert seqs_of(events, "step.completed", "a")[0] < seqs_of(events, "step.started", "b")[0]
        assert seqs_of(events, "step.completed", "b")[0] < seqs_of(events, "step.started", "c")[0]


async def test_a_result_that_is_a_json_text_reaches_templates_as_data(workflow_rig: RigFactory) -> None:
    document = json.dumps({"rows": [{"name": "ada"}, {"name": "grace"}], "total": 2})
    async with workflow_rig() as rig:
        status = await rig.run(
            workflow(
                "json-text",
                echo("read", document),  # echo returns a string: {"result": "<the JSON text>"}
                echo("count", "{{ steps.read.result.total }} rows", "read"),
                echo("first", "{{ steps.read.result.rows[0].name }}", "read"),
                echo("parsed", "{{ (steps.read.text | fromjson).rows | length }} parsed", "read"),
                echo("plain", "{{ steps.count.result }}", "count"),
            )
        )

    assert status["status"] == "completed", status["error"]
    assert results(status) == {
        "read": document,  # stored as the tool gave it
        "count": "2 rows",
        "first": "ada",
        "parsed": "2 parsed",
        "plain": "2 rows",
    }


async def test_execution_events_are_numbered_without_gaps_and_tell_of_every_step(
    workflow_rig: RigFactory,
) -> None:
    async with workflow_rig() as rig:
        status = await rig.run(
            workflow(
                "told", echo("a", "1"), echo("b", "2", "a"), echo("c", "3", "a"), echo("d", "4", "b", "c")
            )
        )
        events = await rig.events_of(status["execution_id"])
        assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
        assert events[0]["type"] == "execution.created"
        assert events[1]["type"] == "execution.started"
        assert events[-1]["type"] == "execution.completed"
        for step in "abcd":
            started, completed = (
                seqs_of(events, "step.started", step),
                seqs_of(events, "step.completed", step),
            )
            assert len(started) == len(completed) == 1
            assert started[0] < completed[0]
        assert [
            event["seq"] for event in await rig.engine.events(status["execution_id"], after_seq=3)
        ] == list(range(4, len(events) + 1))


async def test_a_diamond_joins_both_sides_and_values_keep_their_types(workflow_rig: RigFactory) -> None:
    async with workflow_rig() as rig:
        status = await rig.run(
            workflow(
                "diamond",
                add("top", 1, 2),
                add("left", "{{ steps.top.result }}", 10, "top"),
                add("right", "{{ steps.top.result }}", 100, "top"),
                add("bottom", "{{ steps.left.result }}", "{{ steps.right.result }}", "left", "right"),
            )
        )
        assert status["status"] == "completed"
        assert results(status) == {"top": 3.0, "left": 13.0, "right": 103.0, "bottom": 116.0}


async def test_a_fan_out_runs_in_parallel_and_the_fan_in_sees_every_result(workflow_rig: RigFactory) -> None:
    async with workflow_rig() as rig:
        workers = [
            {"id": f"w{n}", "tool": "slow__slow", "args": {"steps": n, "delay": 0.05}, "dependencies": ["go"]}
            for n in (2, 3, 4)
        ]
        status = await rig.run(
            workflow(
                "fan",
                echo("go", "start"),
                *workers,
                echo(
                    "join",
                    "{{ steps.w2.result }} | {{ steps.w3.result }} | {{ steps.w4.result }}",
                    "w2",
                    "w3",
                    "w4",
                ),
            )
        )
        assert status["status"] == "completed"
        assert results(status)["join"] == "done after 2 steps | done after 3 steps | done after 4 steps"
        events = await rig.events_of(status["execution_id"])
        assert peak_running(events, {"w2", "w3", "w4"}) == 3
        last_worker = max(seqs_of(events, "step.completed", f"w{n}")[0] for n in (2, 3, 4))
        assert seqs_of(events, "step.started", "join")[0] > last_worker


async def test_for_each_runs_every_item_within_its_concurrency_and_gathers_a_list(
    workflow_rig: RigFactory, fleet: Fleet
) -> None:
    async with workflow_rig() as rig:
        names = ["ada", "grace", "edsger", "barbara", "alan", "margaret"]
        status = await rig.run(
            workflow(
                "each",
                {
                    "id": "rec",
                    "tool": "rec__record",
                    "for_each": "params.names",
                    "concurrency": 2,
                    "args": {"key": "{{ execution.id }}/{{ item }}", "value": "#{{ index }}"},
                },
                echo("summary", "{{ steps.rec.result | join(',') }}", "rec"),
                params={"names": {"type": "array", "required": True}},
            ),
            {"names": names},
        )
        assert status["status"] == "completed"
        keys = [f"{status['execution_id']}/{name}" for name in names]
        assert results(status)["rec"] == keys
        assert results(status)["summary"] == ",".join(keys)
        assert [results(status)[f"rec[{index}]"] for index in range(len(names))] == keys
        # The upstream was called once per item, no more.
        lines = records(fleet, status["execution_id"])
        assert sorted((line["key"], line["value"]) for line in lines) == sorted(
            (key, f"#{index}") for index, key in enumerate(keys)
        )
        events = await rig.events_of(status["execution_id"])
        assert peak_running(events, {f"rec[{index}]" for index in range(len(names))}) == 2


async def test_a_step_whose_condition_is_false_is_skipped_and_its_dependents_still_run(
    workflow_rig: RigFactory,
) -> None:
    async with workflow_rig() as rig:
        status = await rig.run(
            workflow(
                "conditional",
                echo("maybe", "ran", when="params.go"),
                echo("always", "always", when="{{ not params.go }}"),
                echo("after", "maybe was {{ steps.maybe.status }}", "maybe"),
                params={"go": {"type": "boolean", "default": False}},
            )
        )
        assert status["status"] == "completed"
        assert status["step_states"] == {"maybe": "skipped", "always": "completed", "after": "completed"}
        assert results(status)["after"] == "maybe was skipped"


async def test_a_condition_that_refers_to_something_missing_fails_the_step_cleanly(
    workflow_rig: RigFactory,
) -> None:
    async with workflow_rig() as rig:
        status = await rig.run(
            workflow("bad-condition", echo("a", "x"), echo("b", "y", "a", when="steps.a.result.nothing"))
        )
        assert status["status"] == "failed"
        assert status["step_states"] == {"a": "completed", "b": "failed"}
        assert "when:" in status["error"]
        # A condition that fails is a failure, not a false: with skip_dependents what follows is skipped.
        status = await rig.run(
            workflow(
                "bad-condition-skips",
                echo("a", "x"),
                echo("b", "y", "a", when="steps.a.result.nothing", on_failure="skip_dependents"),
                echo("c", "z", "b"),
            )
        )
        assert status["status"] == "completed"
        assert status["step_states"] == {"a": "completed", "b": "failed", "c": "skipped"}


async def test_an_argument_that_refers_to_something_missing_fails_the_step_without_a_call(
    workflow_rig: RigFactory,
) -> None:
    async with workflow_rig() as rig:
        status = await rig.run(
            workflow("bad-arg", echo("a", "x"), echo("b", "{{ steps.a.result.nothing }}", "a"))
        )
        assert status["status"] == "failed"
        assert "args:" in status["error"]
        assert [run["attempt"] for run in status["steps"] if run["key"] == "b"] == [1]


async def test_a_sub_workflow_runs_as_a_step_and_gives_its_steps_results(workflow_rig: RigFactory) -> None:
    async with workflow_rig() as rig:
        await rig.engine.create(
            workflow("child", echo("hello", "{{ params.who }}"), params={"who": {"type": "string"}})
        )
        status = await rig.run(
            workflow(
                "parent",
                {"id": "call", "workflow": "child", "args": {"who": "world"}},
                echo("after", "child said {{ steps.call.result.hello }}", "call"),
            )
        )
        assert status["status"] == "completed"
        assert results(status)["after"] == "child said world"
        (child,) = await rig.engine.executions(workflow_id="child")
        assert child.parent == status["execution_id"]


# -- failures ----------------------------------------------------------------------------------------


async def test_a_failed_step_with_on_failure_fail_fails_the_execution_and_nothing_after_it_runs(
    workflow_rig: RigFactory,
) -> None:
    async with workflow_rig() as rig:
        status = await rig.run(
            workflow("fails", {"id": "broken", "tool": "flaky__fail_always"}, echo("after", "x", "broken"))
        )
        assert status["status"] == "failed"
        assert status["error"].startswith("step 'broken' failed: flaky__fail_always returned an error")
        assert status["step_states"] == {"broken": "failed", "after": "pending"}
        events = await rig.events_of(status["execution_id"])
        assert not seqs_of(events, "step.started", "after")
        assert events[-1]["type"] == "execution.failed"


async def test_a_failed_step_with_on_failure_continue_lets_the_rest_run_and_see_the_failure(
    workflow_rig: RigFactory,
) -> None:
    async with workflow_rig() as rig:
        status = await rig.run(
            workflow(
                "continues",
                {"id": "broken", "tool": "flaky__fail_always", "on_failure": "continue"},
                echo("after", "{{ steps.broken.status }}: {{ steps.broken.error }}", "broken"),
            )
        )
        assert status["status"] == "completed"
        assert status["step_states"] == {"broken": "failed", "after": "completed"}
        assert results(status)["after"].startswith("failed: flaky__fail_always returned an error")


async def test_a_failed_step_with_skip_dependents_skips_what_depends_on_it_and_nothing_else(
    workflow_rig: RigFactory,
) -> None:
    async with workflow_rig() as rig:
        status = await rig.run(
            workflow(
                "skips",
                {"id": "broken", "tool": "flaky__fail_always", "on_failure": "skip_dependents"},
                echo("child", "x", "broken"),
                echo("grandchild", "y", "child"),
                echo("other", "z"),
            )
        )
        assert status["status"] == "completed"
        assert status["step_states"] == {
            "broken": "failed",
            "child": "skipped",
            "grandchild": "skipped",
            "other": "completed",
        }


async def test_retries_wait_by_exponential_backoff_capped_at_the_maximum(workflow_rig: RigFactory) -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await anyio.lowlevel.checkpoint()

    async with workflow_rig(sleep=sleep) as rig:
        retry = {"attempts": 5, "backoff_s": 0.5, "multiplier": 3, "max_backoff_s": 5}
        status = await rig.run(
            workflow("backoff", {"id": "broken", "tool": "flaky__fail_always", "retry": retry})
        )
        assert status["status"] == "failed"
        assert delays == [0.5, 1.5, 4.5, 5.0]
        (run,) = status["steps"]
        assert run["attempt"] == 5
        events = await rig.events_of(status["execution_id"])
        retrying = [event["data"] for event in events if event["type"] == "step.retrying"]
        assert [(data["attempt"], data["delay_s"]) for data in retrying] == [
            (1, 0.5),
            (2, 1.5),
            (3, 4.5),
            (4, 5.0),
        ]
        assert len(seqs_of(events, "step.started", "broken")) == 5


async def test_a_step_that_fails_once_succeeds_on_its_retry(workflow_rig: RigFactory) -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await anyio.lowlevel.checkpoint()

    async with workflow_rig(sleep=sleep) as rig:
        flaky = unique("flaky")  # its own process: the failure is every second call it gets
        await rig.serve({flaky: server_entry("flaky", FLAKY_EVERY="2")})
        retry = {"attempts": 3, "backoff_s": 2, "on": ["tool_error"]}
        status = await rig.run(
            workflow(
                "recovers",
                {"id": "first", "tool": f"{flaky}__flaky", "args": {"text": "one"}},
                {
                    "id": "second",
                    "tool": f"{flaky}__flaky",
                    "args": {"text": "two"},
                    "dependencies": ["first"],
                    "retry": retry,
                },
            )
        )
        assert status["status"] == "completed"
        assert results(status) == {"first": "one", "second": "two"}
        assert {run["key"]: run["attempt"] for run in status["steps"]} == {"first": 1, "second": 2}
        assert delays == [2.0]


async def test_only_the_listed_kinds_of_error_are_retried(workflow_rig: RigFactory) -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)
        await anyio.lowlevel.checkpoint()

    async with workflow_rig(sleep=sleep) as rig:
        status = await rig.run(
            workflow(
                "selective",
                {
                    "id": "tool_error",
                    "tool": "flaky__fail_always",
                    "retry": {"attempts": 4, "on": ["timeout", "unavailable"]},
                    "on_failure": "continue",
                },
                {
                    "id": "bad_args",
                    "tool": "echo__echo",
                    "args": {"text": 42},
                    "retry": {"attempts": 4},
                    "on_failure": "continue",
                },
            )
        )
        assert status["status"] == "completed"
        assert status["step_states"] == {"tool_error": "failed", "bad_args": "failed"}
        assert {run["key"]: run["attempt"] for run in status["steps"]} == {"tool_error": 1, "bad_args": 1}
        assert delays == []


async def test_arguments_that_break_the_tools_schema_fail_the_step_without_calling_the_upstream(
    workflow_rig: RigFactory, fleet: Fleet
) -> None:
    async with workflow_rig() as rig:
        before = records(fleet)
        status = await rig.run(
            workflow(
                "bad-arguments",
                {
                    "id": "wrong_type",
                    "tool": "rec__record",
                    "args": {"key": "{{ params.n }}"},
                    "on_failure": "continue",
                },
                {"id": "missing", "tool": "rec__record", "args": {"value": "v"}, "on_failure": "continue"},
                params={"n": {"type": "integer", "default": 7}},
            )
        )
        assert status["step_states"] == {"wrong_type": "failed", "missing": "failed"}
        errors = {run["key"]: run["error"] for run in status["steps"]}
        assert errors["wrong_type"] == "invalid arguments for rec__record: key: 7 is not of type 'string'"
        assert (
            errors["missing"]
            == "invalid arguments for rec__record: (arguments): 'key' is a required property"
        )
        assert records(fleet) == before


# -- control -----------------------------------------------------------------------------------------


async def test_cancelling_a_running_execution_cancels_the_call_upstream(
    workflow_rig: RigFactory, tmp_path: Path
) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    async with workflow_rig() as rig:
        slow = unique("slow")  # its own process, to leave its marker in this test's directory
        await rig.serve({slow: server_entry("slow", CORRAL_TEST_MARKER_DIR=str(markers))})
        execution_id = await rig.start(
            workflow(
                "cancelled",
                {"id": "long", "tool": f"{slow}__slow", "args": {"steps": 600, "delay": 0.05}},
                echo("after", "x", "long"),
            )
        )
        # Progress from the upstream: the call is running there, not just about to be sent.
        await rig.execution_event(execution_id, "step.progress")
        await rig.engine.cancel(execution_id)
        status = await rig.finish(execution_id)
        assert status["status"] == "cancelled"
        assert status["step_states"] == {"long": "cancelled", "after": "cancelled"}
        events = await rig.events_of(status["execution_id"])
        assert events[-1]["type"] == "execution.cancelled"
        assert not seqs_of(events, "step.started", "after")
        marker = markers / "cancelled-slow"
        with anyio.fail_after(10):
            while not marker.exists():  # noqa: ASYNC110 - the server leaves a file, which has no event to wait on
                await anyio.sleep(0.02)
        with pytest.raises(Conflict):
            await rig.engine.cancel(execution_id)


async def test_a_paused_execution_starts_no_new_step_until_it_is_resumed(workflow_rig: RigFactory) -> None:
    async with workflow_rig() as rig:
        execution_id = await rig.start(
            workflow(
                "pausable",
                {"id": "first", "tool": "slow__slow", "args": {"steps": 4, "delay": 0.05}},
                echo("second", "after {{ steps.first.result }}", "first"),
            )
        )
        await rig.execution_event(execution_id, "step.progress")
        await rig.engine.pause(execution_id)
        # The step under way finishes; then the execution pauses instead of starting the next.
        paused = await rig.execution_event(execution_id, "execution.paused")
        assert paused.data["reason"] == "paused"
        status = await rig.engine.status(execution_id)
        assert status["status"] == "paused"
        assert status["step_states"] == {"first": "completed", "second": "pending"}

        await rig.engine.resume(execution_id)
        status = await rig.finish(execution_id)
        assert status["status"] == "completed"
        assert results(status)["second"] == "after done after 4 steps"
        types = [event["type"] for event in await rig.events_of(execution_id)]
        assert (
            types.index("execution.paused")
            < types.index("execution.resumed")
            < types.index("execution.completed")
        )


async def test_the_estimated_completion_is_given_while_running_and_cleared_when_finished(
    workflow_rig: RigFactory,
) -> None:
    async with workflow_rig() as rig:
        execution_id = await rig.start(
            workflow(
                "estimated",
                {
                    "id": "a",
                    "tool": "slow__slow",
                    "args": {"steps": 4, "delay": 0.05},
                    "estimated_duration": 60,
                },
                {"id": "b", "tool": "slow__slow", "args": {"steps": 1, "delay": 0}, "dependencies": ["a"]},
            )
        )
        await rig.execution_event(execution_id, "step.progress")
        running = await rig.engine.status(execution_id)
        assert running["status"] == "running"
        assert running["estimated_completion"] is not None
        assert running["estimated_completion"] > running["created_at"]
        assert 0 <= running["progress"] < 1
        finished = await rig.finish(execution_id)
        assert finished["status"] == "completed"
        assert finished["estimated_completion"] is None


# -- parameters --------------------------------------------------------------------------------------

PARAMS = {
    "greeting": {"type": "string", "default": "hello"},
    "name": {"type": "string", "required": True},
    "times": {"type": "integer", "default": 1},
}


async def test_parameters_take_their_defaults_and_given_values(workflow_rig: RigFactory) -> None:
    async with workflow_rig() as rig:
        await rig.engine.create(
            workflow(
                "greets",
                echo("say", "{{ params.greeting }}, {{ params.name }} x{{ params.times }}"),
                params=PARAMS,
            )
        )
        defaulted = await rig.finish(await rig.engine.execute("greets", {"name": "ada"}))
        assert defaulted["params"] == {"greeting": "hello", "name": "ada", "times": 1}
        assert results(defaulted)["say"] == "hello, ada x1"
        given = await rig.finish(
            await rig.engine.execute("greets", {"name": "grace", "greeting": "hi", "times": 2})
        )
        assert results(given)["say"] == "hi, grace x2"


async def test_wrong_parameters_are_refused_before_an_execution_starts(workflow_rig: RigFactory) -> None:
    refusals: list[tuple[dict[str, Any], str]] = [
        ({}, "params.name: required"),
        ({"name": "ada", "times": "twice"}, "params.times: expected integer, got str"),
        ({"name": "ada", "times": True}, "params.times: expected integer, got bool"),
        ({"name": 5}, "params.name: expected string, got int"),
        ({"name": "ada", "colour": "red"}, "params.colour: not a parameter of 'greets'"),
    ]
    async with workflow_rig() as rig:
        await rig.engine.create(workflow("greets", echo("say", "{{ params.name }}"), params=PARAMS))
        for given, message in refusals:
            with pytest.raises(InvalidInput) as caught:
                await rig.engine.execute("greets", given)
            assert caught.value.message == message
        assert await rig.engine.executions(workflow_id="greets") == []
