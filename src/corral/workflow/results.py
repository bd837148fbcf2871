"""What a finished step looks like to the templates of later steps (``steps.<id>``), and what a
finished execution gave: its steps' results, which its final event carries when they are small."""

from __future__ import annotations

import json
from typing import Any

from corral.workflow.store import StepRun


def step_view(run: StepRun) -> dict[str, Any]:
    """``steps.<id>`` in templates: the result as data (a JSON document in a string parsed), its text."""
    return {
        "result": as_data(run.result),
        "status": run.status.value,
        "error": run.error,
        "text": run.result if isinstance(run.result, str) else json.dumps(run.result),
        "attempts": run.attempt,
    }


def as_data(value: Any) -> Any:
    """A string holding a JSON object or array, parsed (in a list too: a ``for_each``'s results).

    Many tools hand back their data as a JSON text in their structured content (``{"result": "{...}"}``);
    templates get the data. Only documents: a string of digits or ``true`` stays a string, as the tool's
    schema says it is; and a string that is not JSON stays as it is.
    """
    if isinstance(value, list):
        return [as_data(item) for item in value]
    if not isinstance(value, str) or not value.lstrip().startswith(("{", "[")):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


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
