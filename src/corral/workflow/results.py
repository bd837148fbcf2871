"""What a finished step looks like to the templates of later steps (``steps.<id>``), and what a
finished execution gave: its steps' results, which its final event carries when they are small."""

from __future__ import annotations

import json
from typing import Any

from corral.workflow.store import StepRun


def step_view(run: StepRun) -> dict[str, Any]:
    return {
        "result": run.result,
        "status": run.status.value,
        "error": run.error,
        "text": run.result if isinstance(run.result, str) else json.dumps(run.result),
        "attempts": run.attempt,
    }


MAX_EVENT_RESULT_BYTES = 32 * 1024
"""The largest result (as JSON) a final ``execution.*`` event carries; a larger one is referred to."""


def execution_result(runs: dict[str, StepRun]) -> dict[str, Any]:
    """The result of an execution (or a sub-workflow step): each step's result by its id."""
    return {key: run.result for key, run in runs.items() if run.item is None}


def outcome(execution_id: str, status: str, error: str | None, runs: dict[str, StepRun]) -> dict[str, Any]:
    """What the final ``execution.*`` event says: status, error and the result, or where to read it."""
    result = execution_result(runs)
    size = len(json.dumps(result, separators=(",", ":"), default=str))
    told: dict[str, Any] = {"status": status, "error": error}
    if size <= MAX_EVENT_RESULT_BYTES:
        return {**told, "result": result}
    return {**told, "result": None, "result_bytes": size, "result_ref": f"/api/v1/executions/{execution_id}"}
