"""Tasks survive a SIGKILL of the hub: `corral serve` processes, real worker agents, a real restart."""

from __future__ import annotations

import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import HubProcess, wait_until
from tests.tasks.conftest import notes, worker_entry

pytestmark = pytest.mark.slow


def task(hub: HubProcess, task_id: str) -> dict[str, Any]:
    body: dict[str, Any] = hub.get(f"/api/v1/tasks/{task_id}").json()
    return body


def submit(hub: HubProcess, **request: Any) -> str:
    response = hub.post("/api/v1/tasks", json=request)
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


def test_after_a_hub_sigkill_queued_tasks_run_an_idempotent_one_runs_again_and_a_destructive_one_is_held(
    tmp_path: Path, start_hub: Callable[..., HubProcess]
) -> None:
    record = tmp_path / "work.jsonl"
    config = {
        "mcpServers": {
            "w1": worker_entry("w1", record, max_concurrent=1),
            "w2": worker_entry("w2", record, max_concurrent=1),
        }
    }
    hub = start_hub(config)
    for name in ("w1", "w2"):
        hub.wait_status(name, "healthy")
    again = submit(hub, tool="w1__work", arguments={"label": "again", "seconds": 5})
    held = submit(hub, tool="w2__work_once", arguments={"label": "held", "seconds": 30})
    wait_until(
        lambda: {line["label"] for line in notes(record) if line["event"] == "start"} >= {"again", "held"}
    )
    queued = [submit(hub, tool="work", arguments={"label": f"q{n}"}) for n in range(3)]
    assert {task(hub, task_id)["state"] for task_id in queued} == {"queued"}
    hub.stop(signal.SIGKILL)

    hub = start_hub(config, restart=True)
    finished = wait_until(
        lambda: all(task(hub, task_id)["state"] == "completed" for task_id in [again, *queued]), timeout=60
    )
    assert finished
    held_now = wait_until(lambda: (state := task(hub, held))["state"] == "held" and state, timeout=30)
    starts = Counter(line["label"] for line in notes(record) if line["event"] == "start")
    assert starts == {"again": 2, "held": 1, "q0": 1, "q1": 1, "q2": 1}, (
        "nothing lost, nothing repeated silently"
    )
    assert [attempt["state"] for attempt in task(hub, again)["attempts"]] == ["lost", "completed"]
    assert held_now["attempts"][0]["state"] == "lost"
    assert "held for a decision" in held_now["error"]

    decided = hub.post(f"/api/v1/tasks/{held}/decide", json={"action": "fail"})
    assert decided.status_code == 200 and decided.json()["state"] == "failed"
    assert hub.post(f"/api/v1/tasks/{held}/decide", json={"action": "retry"}).status_code == 409
