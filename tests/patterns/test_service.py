"""The patterns service and the hub actions in process, on real servers: what a step gets when things fail,
and applications the service takes up after a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import pytest

from corral.clock import SystemClock
from corral.errors import Conflict, InvalidInput
from corral.patterns.applications import PatternService
from corral.patterns.library import PatternLibrary
from corral.patterns.models import Application, ApplicationStatus
from corral.registry.models import ServerSpec
from tests.patterns.conftest import WITHIN, RigFactory
from tests.support import server_entry

pytestmark = pytest.mark.anyio


def step(step_id: str, tool: str, /, **args: Any) -> dict[str, Any]:
    return {"id": step_id, "tool": tool, "args": args}


def runs(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {run["key"]: run for run in status["steps"]}


async def test_call_tool_captures_an_upstream_tool_error_as_an_answer(pattern_rig: RigFactory) -> None:
    async with pattern_rig({"flaky": server_entry("flaky")}) as rig:
        status = await rig.run_steps(
            step("captured", "corral__call_tool", server="flaky", tool="fail_always", capture_errors=True),
            step("raised", "corral__call_tool", server="flaky", tool="fail_always"),
        )

    captured, raised = runs(status)["captured"], runs(status)["raised"]
    assert captured["status"] == "completed"
    assert captured["result"]["ok"] is False and captured["result"]["answered"] is True
    assert (
        captured["result"]["outcome"] == "tool_error" and "flaky__fail_always" in captured["result"]["error"]
    )
    assert raised["status"] == "failed" and "flaky__fail_always returned an error" in raised["error"]


async def test_hub_actions_fail_steps_with_messages_that_say_why(pattern_rig: RigFactory) -> None:
    async with pattern_rig({"echo": server_entry("echo")}) as rig:
        rig.supervisor.apply(ServerSpec.from_client_entry("off", {**server_entry("echo"), "enabled": False}))
        rig.supervisor.apply(
            ServerSpec.from_client_entry("crashy", server_entry("crashing", CRASH_ON_START="1"))
        )
        status = await rig.run_steps(
            {**step("disabled", "corral__restart_server", name="off"), "on_failure": "continue"},
            {**step("never", "corral__wait_healthy", name="crashy", timeout_s=1), "on_failure": "continue"},
            {**step("ghost", "corral__list_tools", name="ghost"), "on_failure": "continue"},
            {**step("loop", "corral__call_tool", server="corral", tool="assert"), "on_failure": "continue"},
            {**step("typo", "corral__wait_healthy", name="echo", timeout_s="soon"), "on_failure": "continue"},
            {**step("falsy", "corral__assert", that=False, message="not today"), "on_failure": "continue"},
            step("fine", "corral__assert", that="{{ 1 < 2 }}"),
        )

    errors = {key: run["error"] for key, run in runs(status).items()}
    assert status["status"] == "completed"
    assert errors["disabled"] == "server 'off' is disabled; enable it to restart it"
    assert errors["never"].startswith("server 'crashy' did not serve within 1s: it is ")
    assert errors["ghost"] == "no server named 'ghost'"
    assert errors["loop"] == "corral__call_tool calls servers' tools, not the hub's"
    assert errors["typo"].startswith("invalid arguments for corral__wait_healthy: timeout_s: 'soon'")
    assert errors["falsy"] == "not today"
    assert errors["fine"] is None and runs(status)["fine"]["result"] == {"passed": True}


async def test_the_sleep_action_waits_between_steps(pattern_rig: RigFactory) -> None:
    async with pattern_rig({"echo": server_entry("echo")}) as rig:
        status = await rig.run_steps(
            step("pause", "corral__sleep", seconds=0.3),
            {**step("after", "corral__assert", that=True), "dependencies": ["pause"]},
            {**step("negative", "corral__sleep", seconds=-1), "on_failure": "continue"},
        )

    steps = runs(status)
    assert steps["pause"]["result"] == {"slept_s": 0.3}
    assert datetime.fromisoformat(steps["after"]["started_at"]) >= datetime.fromisoformat(
        steps["pause"]["started_at"]
    ) + timedelta(seconds=0.3)
    assert steps["negative"]["error"].startswith("invalid arguments for corral__sleep: seconds:")


async def test_a_workflow_naming_an_unknown_hub_action_is_refused_when_created(
    pattern_rig: RigFactory,
) -> None:
    async with pattern_rig({"echo": server_entry("echo")}) as rig:
        with pytest.raises(InvalidInput) as refused:
            await rig.engine.create(
                {"workflow_id": "w", "name": "w", "steps": [step("a", "corral__reboot_all")]}
            )

    assert refused.value.details["errors"] == ["steps.a.tool: server 'corral' has no tool 'reboot_all'"]


async def test_a_restarted_hub_completes_the_records_of_applications_left_unfinished(
    pattern_rig: RigFactory, store_url: str
) -> None:
    now = datetime.now(UTC)

    def record(application_id: str, status: ApplicationStatus, execution_id: str | None) -> Application:
        return Application(
            application_id, "smoke-test", "server", "echo", {}, status, {"ok": True}, None, None,
            execution_id, None, None, now, None,
        )  # fmt: skip

    async with pattern_rig({"echo": server_entry("echo")}, store_url=store_url) as rig:
        finished = await rig.run_steps(step("hello", "echo__echo", text="hi"))
        await rig.store.add(record("pa_done", ApplicationStatus.RUNNING, finished["execution_id"]))
        await rig.store.add(record("pa_lost", ApplicationStatus.PENDING, None))
        # A second service on the same store stands for the service of the restarted hub.
        later = PatternService(
            PatternLibrary.load(), rig.store, rig.engine, rig.supervisor, rig.bus, SystemClock()
        )
        async with anyio.create_task_group() as tg:
            await tg.start(later.run)
            with anyio.fail_after(WITHIN):
                done = await later.wait_finished("pa_done")
            lost = await later.application("pa_lost")
            tg.cancel_scope.cancel()

    assert done.status is ApplicationStatus.COMPLETED
    assert done.results is not None and done.results["steps"]["hello"]["result"] == "hi"
    assert lost.status is ApplicationStatus.FAILED
    assert lost.error == "the hub stopped before the application's execution started"


async def test_applying_through_the_service_waits_for_nothing_and_finishes_in_the_background(
    pattern_rig: RigFactory,
) -> None:
    async with pattern_rig({"echo": server_entry("echo")}) as rig:
        started = await rig.service.apply("smoke-test", "echo", {"call_timeout_s": 5})
        with anyio.fail_after(WITHIN):
            done = await rig.service.wait_finished(started.id)
        listed = await rig.service.applications(pattern_id="smoke-test")

    assert started.status in (ApplicationStatus.RUNNING, ApplicationStatus.COMPLETED)
    assert started.execution_id is not None and started.workflow_id == "pattern.smoke-test.echo"
    assert done.status is ApplicationStatus.COMPLETED and done.finished_at is not None
    assert [application.id for application in listed] == [started.id]


async def test_a_pattern_is_not_applied_twice_to_the_same_target_at_once(pattern_rig: RigFactory) -> None:
    async with pattern_rig({"echo": server_entry("echo")}) as rig:
        rig.supervisor.apply(
            ServerSpec.from_client_entry("crashy", server_entry("crashing", CRASH_ON_START="1"))
        )
        # Settled with its circuit open, its restart begins at once (not after a start in progress).
        await rig.wait_status("crashy", "circuit_open")
        first = await rig.service.apply("restart-and-verify", "crashy", {"timeout_s": 3})
        with pytest.raises(Conflict, match=f"already being applied to 'crashy' \\(application {first.id}"):
            await rig.service.apply("restart-and-verify", "crashy", {"timeout_s": 3})
        other_target = await rig.service.apply("smoke-test", "echo", {})
        with anyio.fail_after(WITHIN):
            failed = await rig.service.wait_finished(first.id)
            await rig.service.wait_finished(other_target.id)
        again = await rig.service.apply("restart-and-verify", "crashy", {"timeout_s": 1})
        with pytest.raises(InvalidInput, match="target: a server or tag name of 1 to 256 characters"):
            rig.service.validate("smoke-test", "x" * 257, {})

    assert failed.status is ApplicationStatus.FAILED
    assert failed.results is not None and failed.results["steps"]["healthy"]["status"] == "failed"
    assert "'crashy' did not serve within 3s" in (failed.error or "")
    assert again.status is ApplicationStatus.RUNNING
