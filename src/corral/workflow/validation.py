"""Checking a definition before it is stored: every problem named with its step and field.

Errors make the definition invalid (a 4xx, never a crash later); warnings
(a server that is merely down now) are reported and let it through.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from corral.workflow import dag
from corral.workflow.models import WorkflowDefinition
from corral.workflow.templates import TemplateError, check, templates_in

ToolState = Literal["ok", "unknown_server", "unknown_tool", "server_down"]
ToolLookup = Callable[[str, str], ToolState]


@dataclass(frozen=True)
class Problem:
    step: str | None
    field: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"steps.{self.step}.{self.field}" if self.step else self.field
        return f"{where}: {self.message}"


def validate(
    definition: WorkflowDefinition, tools: ToolLookup, workflow_exists: Callable[[str], bool]
) -> list[Problem]:
    problems = [
        Problem(step, "id" if message == dag.DUPLICATE_ID else "dependencies", message)
        for step, message in dag.graph_problems(definition.steps)
    ]
    if problems:
        return problems  # references and templates cannot be judged on a broken graph
    upstream = dag.ancestors(definition.steps)
    problems.extend(_parallel_problems(definition))
    for step in definition.steps:
        expressions = [(f"args.{path}", text, False) for path, text in templates_in(step.args)]
        if step.when is not None:
            expressions.append(("when", step.when, True))
        if step.for_each is not None:
            expressions.append(("for_each", step.for_each, True))
        for field, text, bare in expressions:
            try:
                uses = check(text, expression=bare)
            except TemplateError as exc:
                problems.append(Problem(step.id, field, str(exc)))
                continue
            for other in sorted(uses.steps - upstream[step.id]):
                reason = "is not a step" if other not in upstream else "is not upstream of this step"
                problems.append(Problem(step.id, field, f"refers to steps.{other}, which {reason}"))
            per_item = {"item", "index"} & uses.names
            if per_item and (step.for_each is None or field == "for_each"):
                problems.append(
                    Problem(step.id, field, "'item' and 'index' exist only in a for_each step's args")
                )
        problems.extend(_target_problems(definition, step.id, tools, workflow_exists))
    return problems


def _parallel_problems(definition: WorkflowDefinition) -> list[Problem]:
    """Warnings where ``max_parallel`` holds back more steps (or items) than it lets run at once."""
    cap = definition.max_parallel
    problems = []
    widest = dag.widest_level(definition.steps)
    if len(widest) > cap:
        named = ", ".join(widest[:3]) + (", ..." if len(widest) > 3 else "")
        problems.append(
            Problem(
                None,
                "max_parallel",
                f"{len(widest)} steps ({named}) may run at once, but max_parallel is {cap}: "
                f"the others wait; set max_parallel to {len(widest)} to run them together",
                "warning",
            )
        )
    problems.extend(
        Problem(
            step.id,
            "concurrency",
            f"{step.concurrency} items at once, but max_parallel is {cap}, which counts "
            f"items too: at most {cap} run at once",
            "warning",
        )
        for step in definition.steps
        if step.for_each is not None and step.concurrency > cap
    )
    return problems


def _target_problems(
    definition: WorkflowDefinition, step_id: str, tools: ToolLookup, workflow_exists: Callable[[str], bool]
) -> list[Problem]:
    step = definition.step(step_id)
    if step.workflow is not None:
        if step.workflow == definition.workflow_id:
            return [Problem(step.id, "workflow", "a workflow cannot run itself")]
        if not workflow_exists(step.workflow):
            return [Problem(step.id, "workflow", f"unknown workflow {step.workflow!r}")]
        return []
    target = step.target()
    assert target is not None
    server, tool = target
    if step.routed and not server:
        return []  # routing finds the agent when the step runs
    if not server:
        return [Problem(step.id, "tool", f"{tool!r} names no server: write 'server__tool' or add 'server'")]
    state = tools(server, tool)
    if state == "unknown_server":
        return [Problem(step.id, "tool", f"unknown server {server!r}")]
    if state == "unknown_tool":
        return [Problem(step.id, "tool", f"server {server!r} has no tool {tool!r}")]
    if state == "server_down":
        return [
            Problem(step.id, "tool", f"server {server!r} is down now; {tool!r} is not checked", "warning")
        ]
    return []
