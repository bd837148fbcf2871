"""Steps whose tool runs as an upstream MCP task: the task's id is checkpointed and outlives the hub.

The upstream is ``tests/servers/tasks.py`` in its own process on a loopback port, so it survives a
SIGKILL of the hub (and can be killed itself, which makes it forget its tasks). Its ``provision`` tool
is destructive and not idempotent, so without a task a step in flight at a crash would be held; its
body runs until the test releases it, and every request and body start is recorded.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest

from corral.workflow.execution import recover_in_flight
from corral.workflow.models import StepStatus, WorkflowDefinition
from corral.workflow.store import StepRun
from tests.support import HttpTestServer, HubProcess, free_port, wait_until
from tests.workflow.conftest import RigFactory, execution, records, workflow

Launch = Callable[[Path, dict[str, Any]], HubProcess]


class TaskServer(HttpTestServer):
    """The task server in a process of its own; ``restart`` brings it back on its port, knowing no task."""

    def __init__(self, directory: Path, port: int) -> None:
        self.record = directory / "tasks.jsonl"
        super().__init__("tasks", port, directory, "--record", str(self.record))

    def release(self) -> None:
        """Let the tool's bodies finish."""
        httpx.post(f"http://127.0.0.1:{self.port}/release", timeout=10).raise_for_status()

    def config(self) -> dict[str, Any]:
        return {"mcpServers": {"jobs": {"url": self.url}}}

    def events(self, name: str, *, after: int = 0, task: str | None = None) -> list[dict[str, Any]]:
        """The recorded ``name`` events (requests or body starts), from line ``after`` on."""
        return [
            entry
            for entry in records(self.record)[after:]
            if entry["event"] == name and (task is None or entry["task"] == task)
        ]


def test_recovery_re_attaches_a_step_that_has_a_task_and_holds_one_that_has_not() -> None:
    definition = WorkflowDefinition.model_validate(
        {
            "workflow_id": "two",
            "name": "two",
            "steps": [
                {"id": "tasked", "tool": "jobs__provision"},
                {"id": "plain", "tool": "jobs__provision"},
            ],
        }
    )
    runs = {
        "tasked": StepRun(
            "tasked", "tasked", status=StepStatus.RUNNING, detail={"task": {"server": "jobs", "id": "t1"}}
        ),
        "plain": StepRun("plain", "plain", status=StepStatus.RUNNING),
    }
    destructive = types.ToolAnnotations(destructive_hint=True, idempotent_hint=False)

    changed = recover_in_flight(definition, runs, lambda server, tool: destructive)

    assert sorted((run.key, event) for run, event in changed) == [
        ("plain", "step.held"),
        ("tasked", "step.resumed"),
    ]
    assert runs["tasked"].status is StepStatus.PENDING and not runs["tasked"].uncertain
    assert runs["tasked"].detail["task"] == {"server": "jobs", "id": "t1"}, "kept, to re-attach"
    assert runs["plain"].uncertain


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def task_server(tmp_path: Path) -> Iterator[TaskServer]:
    server = TaskServer(tmp_path, free_port())
    yield server
    server.stop()


def start_provision(hub: HubProcess, **step: Any) -> tuple[str, str]:
    """Run a one-step workflow calling ``jobs__provision``; returns the execution id and the task id
    once the step has checkpointed it."""
    workflow = {
        "workflow_id": "provision",
        "name": "Provision as a task",
        "steps": [
            {
                "id": "provision",
                "tool": "jobs__provision",
                "args": {"name": "db"},
                **step,
            }
        ],
    }
    assert hub.post("/api/v1/workflows", json=workflow).status_code == 201
    execution_id: str = hub.post("/api/v1/workflows/provision/execute", json={}).json()["execution_id"]

    def task_id() -> str | None:
        started = [event for event in hub_events(hub, execution_id) if event["type"] == "step.task_started"]
        return str(started[0]["data"]["task"]) if started else None

    return execution_id, wait_until(task_id, timeout=30)


def finished(hub: HubProcess, execution_id: str, *statuses: str) -> dict[str, Any]:
    state: dict[str, Any] = wait_until(
        lambda: (body := execution(hub, execution_id))["status"] in statuses and body, timeout=60
    )
    return state


@pytest.mark.slow
def test_a_task_in_flight_at_a_sigkill_is_re_attached_and_its_tool_runs_once(
    tmp_path: Path, task_server: TaskServer, launch: Launch
) -> None:
    directory = tmp_path / "hub"
    hub = launch(directory, task_server.config())
    execution_id, task_id = start_provision(hub)
    wait_until(lambda: task_server.events("body_started", task=task_id))
    hub.stop(signal.SIGKILL)
    killed_at = len(records(task_server.record))

    hub = launch(directory, task_server.config())
    wait_until(lambda: task_server.events("tasks/get", after=killed_at, task=task_id), timeout=30)
    task_server.release()
    final = finished(hub, execution_id, "completed", "failed", "paused")
    events = hub_events(hub, execution_id)
    hub.stop()

    assert final["status"] == "completed", final
    step = final["steps"][0]
    assert step["result"] == {"provisioned": "db"}
    assert step["uncertain"] is False
    assert "task" not in step["detail"], "the handle is dropped once the task is over"
    assert len(task_server.events("tools/call")) == 1, "the tool was called once"
    assert len(task_server.events("body_started")) == 1, "its body ran once"
    assert task_server.events("tasks/result", after=killed_at, task=task_id), (
        "the restarted hub fetched the result"
    )
    assert [event["data"]["task"] for event in events if event["type"] == "step.task_started"] == [task_id]
    assert "step.held" not in {event["type"] for event in events}


@pytest.mark.slow
def test_a_task_the_upstream_forgot_follows_on_uncertain_and_is_held_with_the_reason(
    tmp_path: Path, task_server: TaskServer, launch: Launch
) -> None:
    directory = tmp_path / "hub"
    hub = launch(directory, task_server.config())
    execution_id, task_id = start_provision(hub)
    wait_until(lambda: task_server.events("body_started", task=task_id))
    hub.stop(signal.SIGKILL)
    task_server.restart()  # a new process: it knows no task

    hub = launch(directory, task_server.config())
    held = finished(hub, execution_id, "paused", "completed", "failed")
    assert held["status"] == "paused", held
    step = held["steps"][0]
    assert step["uncertain"] is True
    assert "no longer knows task" in step["error"] and task_id in step["error"]
    assert "on_uncertain: hold" in step["error"]
    assert len(task_server.events("body_started")) == 1, "not called again on its own"

    task_server.release()
    decided = hub.post(f"/api/v1/executions/{execution_id}/steps/provision/decide", json={"action": "retry"})
    assert decided.status_code == 202
    final = finished(hub, execution_id, "completed", "failed")
    hub.stop()
    assert final["status"] == "completed", final
    assert final["steps"][0]["result"] == {"provisioned": "db"}
    assert len(task_server.events("body_started")) == 2, "run again once a person said so, as a new task"


def test_cancelling_an_execution_cancels_its_upstream_task(
    tmp_path: Path, task_server: TaskServer, launch: Launch
) -> None:
    hub = launch(tmp_path / "hub", task_server.config())
    execution_id, task_id = start_provision(hub)
    assert hub.post(f"/api/v1/executions/{execution_id}/cancel").status_code == 202
    final = finished(hub, execution_id, "cancelled", "completed", "failed")
    hub.stop()

    assert final["status"] == "cancelled", final
    assert final["steps"][0]["status"] == "cancelled"
    assert task_server.events("tasks/cancel", task=task_id), "the upstream was asked to cancel the task"


def hub_events(hub: HubProcess, execution_id: str) -> list[dict[str, Any]]:
    response = hub.get(f"/api/v1/executions/{execution_id}/events")
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_task_past_its_step_deadline_is_cancelled_and_the_step_fails(
    tmp_path: Path, task_server: TaskServer, launch: Launch
) -> None:
    hub = launch(tmp_path / "hub", task_server.config())
    execution_id, task_id = start_provision(hub, timeout=1)
    final = finished(hub, execution_id, "failed", "completed")
    hub.stop()

    assert final["status"] == "failed", final
    step = final["steps"][0]
    assert "did not end within 1s" in step["error"] and task_id in step["error"]
    assert task_server.events("tasks/cancel", task=task_id), "the upstream was asked to cancel the task"
    assert len(task_server.events("body_started")) == 1


@pytest.mark.anyio
async def test_items_whose_tasks_a_restarted_upstream_lost_hold_the_for_each_until_a_decision(
    task_server: TaskServer, workflow_rig: RigFactory
) -> None:
    async with workflow_rig() as rig:
        await rig.serve({"jobs": {"url": task_server.url}})
        document = workflow(
            "fleet-provision",
            {
                "id": "each",
                "tool": "jobs__provision",
                "for_each": "{{ ['a', 'b'] }}",
                "args": {"name": "{{ item }}"},
                "retry": {"attempts": 20, "backoff_s": 0.2, "multiplier": 1},
            },
        )
        execution_id = await rig.start(document)
        for _ in range(2):
            await rig.execution_event(execution_id, "step.task_started")
        task_server.restart()  # the same port, no tasks: the items' next tasks/get finds neither

        await rig.execution_event(execution_id, "execution.paused")
        status = await rig.engine.status(execution_id)
        runs = {run["key"]: run for run in status["steps"]}
        assert runs["each"]["status"] == "pending"
        for key in ("each[0]", "each[1]"):
            assert runs[key]["uncertain"] is True and "no longer knows task" in runs[key]["error"]
        assert len(task_server.events("body_started")) == 2, "neither item was called again on its own"

        task_server.release()
        for key in ("each[0]", "each[1]"):
            await rig.engine.decide(execution_id, key, "retry")
        final = await rig.finish(execution_id)
        assert final["status"] == "completed", final
        each = next(run for run in final["steps"] if run["key"] == "each")
        assert each["result"] == [{"provisioned": "a"}, {"provisioned": "b"}]
        assert len(task_server.events("body_started")) == 4
