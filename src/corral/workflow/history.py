"""Looking back: workflow metrics over a time range, and export/import of a workflow's history."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime
from typing import Any

from corral.errors import InvalidInput
from corral.workflow.engine import WorkflowEngine, parse_definition
from corral.workflow.models import ExecutionStatus
from corral.workflow.store import WorkflowHistory

EXPORT_FORMAT = "corral.workflow-export/1"


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3)


async def workflow_metrics(
    history: WorkflowHistory,
    *,
    workflow_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    slowest: int = 5,
) -> dict[str, Any]:
    """Counts by status, success rate, p50/p95 duration, the slowest steps and retries."""
    executions = await history.executions_between(since, until, workflow_id)
    counts = {status.value: 0 for status in ExecutionStatus}
    for execution in executions:
        counts[execution.status.value] += 1
    ended = counts["completed"] + counts["failed"] + counts["cancelled"]
    durations = [execution.seconds for execution in executions if execution.seconds is not None]
    step_seconds: dict[tuple[str, str], list[float]] = defaultdict(list)
    retries = 0
    for workflow, step, attempts, seconds in await history.step_facts(
        [execution.id for execution in executions]
    ):
        retries += max(0, attempts - 1)
        if seconds is not None:
            step_seconds[(workflow, step)].append(seconds)
    means = sorted(
        (
            (statistics.fmean(values), workflow, step, len(values))
            for (workflow, step), values in step_seconds.items()
        ),
        reverse=True,
    )[:slowest]
    slow = [
        {"workflow_id": workflow, "step": step, "mean_s": round(mean, 3), "runs": runs}
        for mean, workflow, step, runs in means
    ]
    return {
        "workflow_id": workflow_id,
        "since": since.isoformat() if since else None,
        "until": until.isoformat() if until else None,
        "executions": len(executions),
        "by_status": counts,
        "success_rate": round(counts["completed"] / ended, 4) if ended else None,
        "duration_p50_s": _percentile(durations, 0.5),
        "duration_p95_s": _percentile(durations, 0.95),
        "slowest_steps": slow,
        "retries": retries,
    }


async def export_workflow(
    engine: WorkflowEngine, history: WorkflowHistory, workflow_id: str
) -> dict[str, Any]:
    """The definition with every version, every execution and its step results. Raises: NotFound."""
    await engine.definition(workflow_id)
    rows = await history.export_rows(workflow_id)
    return {"format": EXPORT_FORMAT, "workflow_id": workflow_id, **rows}


async def import_workflow(
    engine: WorkflowEngine,
    history: WorkflowHistory,
    document: dict[str, Any],
) -> dict[str, Any]:
    """Bring an export back: each version becomes a version here (unless the latest is the same), finished
    executions are stored as they were (unfinished ones are left out: they ran elsewhere).

    Raises: InvalidInput for a document that is not an export, or a definition that does not validate.
    """
    if document.get("format") != EXPORT_FORMAT or not document.get("versions"):
        raise InvalidInput(f"not a workflow export: expected format {EXPORT_FORMAT!r} with versions")
    version_map: dict[int, int] = {}
    for entry in document["versions"]:
        definition = parse_definition(entry["definition"])
        latest = await engine.store.definition(definition.workflow_id)
        if latest is not None and latest.definition == definition:
            version_map[entry["version"]] = latest.version
            continue
        stored, _ = await engine.create(entry["definition"])
        version_map[entry["version"]] = stored.version
    imported = skipped = 0
    for record in document.get("executions", []):
        if not ExecutionStatus(record["status"]).finished or record["version"] not in version_map:
            skipped += 1
            continue
        if await history.import_execution(record, version_map[record["version"]]):
            imported += 1
        else:
            skipped += 1
    return {
        "workflow_id": document["workflow_id"],
        "versions": version_map,
        "executions": imported,
        "skipped": skipped,
    }
