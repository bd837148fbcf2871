"""The step graph of a workflow, without I/O: problems, order, ancestry, what may run next.

A step is *done* for its dependents when it completed, was skipped, or failed
with ``on_failure: continue``. A failed step with ``skip_dependents`` makes
everything downstream of it skipped; with ``fail`` it fails the execution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from graphlib import CycleError, TopologicalSorter

from corral.workflow.models import StepDefinition, StepStatus

DUPLICATE_ID = "duplicate step id"


def graph_problems(steps: Sequence[StepDefinition]) -> list[tuple[str, str]]:
    """(step id, message) for duplicate ids, unknown or self dependencies, and a cycle."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for step in steps:
        if step.id in seen:
            problems.append((step.id, DUPLICATE_ID))
        seen.add(step.id)
    for step in steps:
        for dependency in step.dependencies:
            if dependency == step.id:
                problems.append((step.id, "depends on itself"))
            elif dependency not in seen:
                problems.append((step.id, f"depends on unknown step {dependency!r}"))
    if not problems:
        try:
            order(steps)
        except CycleError as exc:
            cycle = exc.args[1]
            problems.append((cycle[0], "dependency cycle: " + " → ".join(cycle)))
    return problems


def order(steps: Sequence[StepDefinition]) -> list[str]:
    """A topological order. Raises: graphlib.CycleError."""
    return list(TopologicalSorter({step.id: set(step.dependencies) for step in steps}).static_order())


def ancestors(steps: Sequence[StepDefinition]) -> dict[str, set[str]]:
    """For each step, every step upstream of it (transitively)."""
    parents = {step.id: set(step.dependencies) for step in steps}
    result: dict[str, set[str]] = {}
    for step_id in order(steps):
        result[step_id] = set(parents[step_id]).union(*(result[parent] for parent in parents[step_id]))
    return result


def widest_level(steps: Sequence[StepDefinition]) -> list[str]:
    """The largest set of steps at the same depth (the longest chain of dependencies above them).

    Steps at one depth never depend on each other, so all of them may be ready at once: a lower bound
    on how many steps an execution may want to run together. Raises: graphlib.CycleError.
    """
    parents = {step.id: step.dependencies for step in steps}
    depth: dict[str, int] = {}
    for step_id in order(steps):
        depth[step_id] = 1 + max((depth[parent] for parent in parents[step_id]), default=-1)
    levels: dict[int, list[str]] = {}
    for step in steps:
        levels.setdefault(depth[step.id], []).append(step.id)
    return max(levels.values(), key=len, default=[])


def descendants(steps: Sequence[StepDefinition], step_id: str) -> set[str]:
    return {other for other, upstream in ancestors(steps).items() if step_id in upstream}


def is_done(step: StepDefinition, status: StepStatus) -> bool:
    """Whether dependents of ``step`` may go ahead given its status."""
    return status in (StepStatus.COMPLETED, StepStatus.SKIPPED) or (
        status is StepStatus.FAILED and step.on_failure == "continue"
    )


def ready(steps: Sequence[StepDefinition], statuses: Mapping[str, StepStatus]) -> list[str]:
    """Pending steps whose dependencies are all done, in definition order."""
    by_id = {step.id: step for step in steps}
    return [
        step.id
        for step in steps
        if statuses[step.id] is StepStatus.PENDING
        and all(is_done(by_id[dependency], statuses[dependency]) for dependency in step.dependencies)
    ]


def blocked_by_failure(steps: Sequence[StepDefinition], statuses: Mapping[str, StepStatus]) -> set[str]:
    """Pending steps that can never run because something upstream failed with ``skip_dependents``."""
    blocked: set[str] = set()
    for step in steps:
        if statuses[step.id] is StepStatus.FAILED and step.on_failure == "skip_dependents":
            blocked |= descendants(steps, step.id)
    return {step_id for step_id in blocked if statuses[step_id] is StepStatus.PENDING}


def remaining_seconds(
    steps: Sequence[StepDefinition], statuses: Mapping[str, StepStatus], durations: Mapping[str, float]
) -> float:
    """The longest chain of unfinished steps, weighted by their expected durations (the critical path)."""
    finish: dict[str, float] = {}
    by_id = {step.id: step for step in steps}
    for step_id in order(steps):
        start = max((finish[dependency] for dependency in by_id[step_id].dependencies), default=0.0)
        own = 0.0 if statuses[step_id].finished else durations.get(step_id, 1.0)
        finish[step_id] = start + own
    return max(finish.values(), default=0.0)
