"""SIGKILL the hub right after each checkpoint of a short workflow, one kill per checkpoint, in a loop.

The workflow: ``a`` (an idempotent tool), ``b`` (a destructive, non-idempotent one) and ``c`` (idempotent
again), each waiting ``LINGER_S`` after recording its call. For each boundary k, a new execution is
started, the test waits until the store holds its k-th event (events are numbered per execution, and
published only once written) and kills the hub at once; the next hub resumes it. The linger keeps the
hub inside the step that follows the boundary while the kill lands.

Checked for every kill: no step completed at the kill runs again; a step of ``b`` in flight at the kill
is not repeated silently (it is held, and the test decides as a person would, from what the recorder
shows); every execution completes with every step's side effect done.
"""

from __future__ import annotations

import signal
import sqlite3
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import HubProcess, server_entry, wait_until
from tests.workflow.conftest import execution, records

pytestmark = pytest.mark.slow

LINGER_S = 0.4
DEFINITION = {
    "workflow_id": "three",
    "name": "Three steps",
    "steps": [
        {"id": "a", "tool": "rec__record", "args": {"key": "{{ execution.id }}/a", "linger": LINGER_S}},
        {
            "id": "b",
            "tool": "rec__record_once",
            "args": {"key": "{{ execution.id }}/b", "linger": LINGER_S},
            "dependencies": ["a"],
        },
        {
            "id": "c",
            "tool": "rec__record",
            "args": {"key": "{{ execution.id }}/c", "linger": LINGER_S},
            "dependencies": ["b"],
        },
    ],
}
# created, started, then a started/completed, b started/completed, c started/completed: the last
# boundary before the execution's own end.
BOUNDARIES = range(1, 9)


def kill_after_event(hub: HubProcess, execution_id: str, count: int) -> None:
    """SIGKILL the hub as soon as the store holds the execution's ``count``-th event."""

    def stored() -> bool:
        response = hub.get(f"/api/v1/executions/{execution_id}/events", params={"limit": 100})
        return response.status_code == 200 and len(response.json()["items"]) >= count

    wait_until(stored, timeout=30, interval=0.005)
    hub.stop(signal.SIGKILL)


def completed_in_store(hub: HubProcess, execution_id: str) -> set[str]:
    """The steps the store says are completed, read from the file of a hub that is not running."""
    with sqlite3.connect(hub.data_dir / "corral.db") as store:
        rows = store.execute(
            "SELECT key FROM step_runs WHERE execution_id = ? AND status = 'completed'", (execution_id,)
        )
        return {key for (key,) in rows}


def calls(record_file: Path) -> Counter[str]:
    return Counter(entry["key"] for entry in records(record_file))


def finish(hub: HubProcess, execution_id: str, record_file: Path) -> dict[str, Any]:
    """Wait for the execution to end, deciding a held ``b`` as its operator would."""

    def ended_or_held() -> dict[str, Any] | None:
        state = execution(hub, execution_id)
        held = any(run["uncertain"] for run in state["steps"])
        return state if state["status"] in ("completed", "failed", "cancelled") or held else None

    while True:
        state = wait_until(ended_or_held, timeout=60, interval=0.05)
        if state["status"] in ("completed", "failed", "cancelled"):
            return state
        # b was in flight at the kill: it ran (skip it) or it never reached the server (run it).
        action = "skip" if calls(record_file)[f"{execution_id}/b"] else "retry"
        decided = hub.post(f"/api/v1/executions/{execution_id}/steps/b/decide", json={"action": action})
        assert decided.status_code == 202, decided.text
        wait_until(lambda: not any(run["uncertain"] for run in execution(hub, execution_id)["steps"]))


def test_a_kill_after_any_checkpoint_never_repeats_a_completed_step(
    tmp_path: Path, launch: Callable[[Path, dict[str, Any]], HubProcess]
) -> None:
    record_file = tmp_path / "records.jsonl"
    config = {"mcpServers": {"rec": server_entry("recorder", RECORDER_FILE=str(record_file))}}
    directory = tmp_path / "hub"
    hub = launch(directory, config)
    assert hub.post("/api/v1/workflows", json=DEFINITION).status_code == 201

    for boundary in BOUNDARIES:
        execution_id = hub.post("/api/v1/workflows/three/execute", json={}).json()["execution_id"]
        kill_after_event(hub, execution_id, boundary)
        completed, calls_at_kill = completed_in_store(hub, execution_id), calls(record_file)
        hub = launch(directory, config)
        state = finish(hub, execution_id, record_file)

        assert state["status"] == "completed", (boundary, state)
        after = calls(record_file)
        for step in "abc":
            key = f"{execution_id}/{step}"
            assert after[key] >= 1, f"boundary {boundary}: {step} never ran"
            if step in completed:
                assert after[key] == calls_at_kill[key], f"boundary {boundary}: completed {step} ran again"
        assert after[f"{execution_id}/b"] == 1, f"boundary {boundary}: b was repeated"
    hub.stop()
