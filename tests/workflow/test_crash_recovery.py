"""Durability with real processes: SIGKILL the hub (or the upstream) mid-workflow and start it again.

A 20-step workflow plus a for_each runs against the recorder server, which appends a line to a file for
every call. The hub is killed at several points; each time it comes back on the same store and the
execution continues. At the end every step's side effect happened, no step that was completed before a
kill ran again, and a step in flight at a kill ran at most once more.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support import HubProcess, server_entry, wait_until
from tests.workflow.conftest import execution, records

pytestmark = pytest.mark.slow

STEPS = 20
ITEMS = 6
LINGER_S = 0.25


def twenty_steps() -> dict[str, Any]:
    steps: list[dict[str, Any]] = [
        {
            "id": f"s{index:02d}",
            "tool": "rec__record",
            "args": {"key": f"s{index:02d}", "linger": LINGER_S},
            "dependencies": [f"s{index - 1:02d}"] if index > 1 else [],
        }
        for index in range(1, STEPS + 1)
    ]
    steps.append(
        {
            "id": "fan",
            "tool": "rec__record",
            "for_each": f"{{{{ {list(range(ITEMS))} }}}}",
            "concurrency": 2,
            "args": {"key": "fan-{{ item }}", "linger": LINGER_S},
            "dependencies": [f"s{STEPS:02d}"],
        }
    )
    return {"workflow_id": "durable", "name": "Twenty steps and a fan-out", "steps": steps}


def completed_keys(hub: HubProcess, execution_id: str) -> set[str]:
    return {run["key"] for run in execution(hub, execution_id)["steps"] if run["status"] == "completed"}


def kill(hub: HubProcess) -> None:
    hub.stop(signal.SIGKILL)


def test_a_workflow_survives_sigkills_of_the_hub_without_repeating_completed_steps(
    tmp_path: Path, launch: Callable[[Path, dict[str, Any]], HubProcess]
) -> None:
    record_file = tmp_path / "records.jsonl"
    config = {"mcpServers": {"rec": server_entry("recorder", RECORDER_FILE=str(record_file))}}
    directory = tmp_path / "hub"
    hub = launch(directory, config)
    assert hub.post("/api/v1/workflows", json=twenty_steps()).status_code == 201
    execution_id = hub.post("/api/v1/workflows/durable/execute", json={}).json()["execution_id"]

    # (steps completed, calls made) as they stood just before each kill
    before_kills: list[tuple[set[str], Counter[str]]] = []
    # Kill during a step (a record is written, the step has not finished), twice in the chain and once
    # in the middle of the for_each.
    for threshold in (3, 11, STEPS + 3):
        wait_until(lambda threshold=threshold: len(records(record_file)) >= threshold, timeout=60)
        done = {key for key in completed_keys(hub, execution_id) if key != "fan"}
        before_kills.append((done, Counter(entry["key"] for entry in records(record_file))))
        kill(hub)
        hub = launch(directory, config)

    final = wait_until(
        lambda: (state := execution(hub, execution_id))["status"] in ("completed", "failed") and state,
        timeout=120,
    )
    hub.stop()

    assert final["status"] == "completed", final
    calls = Counter(entry["key"] for entry in records(record_file))
    expected = {f"s{index:02d}" for index in range(1, STEPS + 1)} | {f"fan-{item}" for item in range(ITEMS)}
    assert set(calls) == expected, "every step's side effect happened"
    for done, calls_then in before_kills:
        for key in done:
            record_key = f"fan-{key[4:-1]}" if key.startswith("fan[") else key
            assert calls[record_key] == calls_then[record_key], (
                f"{key} was completed before a kill and ran again"
            )
    duplicates = sum(count - 1 for count in calls.values())
    assert duplicates <= 3 * 2, (
        "only steps in flight at a kill may run once more (the for_each runs two at a time)"
    )
    assert all(count <= 2 for count in calls.values())
    steps = {run["key"]: run for run in final["steps"]}
    assert all(steps[f"s{index:02d}"]["status"] == "completed" for index in range(1, STEPS + 1))
    assert steps["fan"]["result"] == [f"fan-{item}" for item in range(ITEMS)]


def test_a_workflow_continues_when_its_upstream_is_killed_mid_step(
    tmp_path: Path, launch: Callable[[Path, dict[str, Any]], HubProcess]
) -> None:
    record_file = tmp_path / "records.jsonl"
    config = {
        "mcpServers": {"rec": server_entry("recorder", RECORDER_FILE=str(record_file))},
        "settings": {"restart_initial_s": 0.1},
    }
    hub = launch(tmp_path / "hub", config)
    workflow = {
        "workflow_id": "resilient",
        "name": "Survives its upstream",
        "steps": [
            {
                "id": f"s{index}",
                "tool": "rec__record",
                "args": {"key": f"s{index}", "linger": 0.5},
                "retry": {"attempts": 5, "backoff_s": 0.2},
                "dependencies": [f"s{index - 1}"] if index > 1 else [],
            }
            for index in range(1, 5)
        ],
    }
    assert hub.post("/api/v1/workflows", json=workflow).status_code == 201
    execution_id = hub.post("/api/v1/workflows/resilient/execute", json={}).json()["execution_id"]
    wait_until(lambda: len(records(record_file)) >= 2, timeout=30)
    os.kill(hub.server("rec")["pid"], signal.SIGKILL)

    final = wait_until(
        lambda: (state := execution(hub, execution_id))["status"] in ("completed", "failed") and state,
        timeout=60,
    )
    hub.stop()
    assert final["status"] == "completed", final
    interrupted = next(run for run in final["steps"] if run["attempt"] > 1)
    assert interrupted["status"] == "completed"
    assert set(Counter(entry["key"] for entry in records(record_file))) == {"s1", "s2", "s3", "s4"}


def test_a_destructive_step_in_flight_at_a_crash_is_held_until_a_person_decides(
    tmp_path: Path, launch: Callable[[Path, dict[str, Any]], HubProcess]
) -> None:
    record_file = tmp_path / "records.jsonl"
    config = {"mcpServers": {"rec": server_entry("recorder", RECORDER_FILE=str(record_file))}}
    directory = tmp_path / "hub"
    hub = launch(directory, config)
    workflow = {
        "workflow_id": "careful",
        "name": "Does not repeat what it cannot undo",
        "steps": [
            {"id": "charge", "tool": "rec__record_once", "args": {"key": "charge", "linger": 5}},
            {"id": "after", "tool": "rec__record", "args": {"key": "after"}, "dependencies": ["charge"]},
        ],
    }
    assert hub.post("/api/v1/workflows", json=workflow).status_code == 201
    execution_id = hub.post("/api/v1/workflows/careful/execute", json={}).json()["execution_id"]
    wait_until(lambda: len(records(record_file)) >= 1, timeout=30)
    kill(hub)
    hub = launch(directory, config)

    held = wait_until(
        lambda: (state := execution(hub, execution_id))["status"] == "paused" and state, timeout=30
    )
    charge = next(run for run in held["steps"] if run["key"] == "charge")
    assert charge["uncertain"] is True
    assert Counter(entry["key"] for entry in records(record_file))["charge"] == 1, "not repeated silently"

    decided = hub.post(f"/api/v1/executions/{execution_id}/steps/charge/decide", json={"action": "skip"})
    assert decided.status_code == 202
    final = wait_until(
        lambda: (state := execution(hub, execution_id))["status"] == "completed" and state, timeout=30
    )
    hub.stop()
    steps = {run["key"]: run["status"] for run in final["steps"]}
    assert steps == {"charge": "skipped", "after": "completed"}
    assert Counter(entry["key"] for entry in records(record_file)) == {"charge": 1, "after": 1}
