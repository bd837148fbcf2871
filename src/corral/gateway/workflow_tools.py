"""Corral's workflow tools for MCP clients: define, run, watch and steer workflows."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field

from corral.errors import InvalidInput
from corral.gateway.management import ManagementTool, define_tool
from corral.strict import StrictModel
from corral.workflow.engine import WorkflowEngine
from corral.workflow.history import export_workflow, workflow_metrics
from corral.workflow.models import EXECUTION_ID

T = TypeVar("T")


class CreateWorkflowInput(StrictModel):
    workflow_id: str = Field(description="Stable id; creating it again makes a new version.")
    name: str
    description: str = ""
    pattern: str | None = None
    steps: list[dict[str, Any]] = Field(
        description="Steps: id, tool ('server__tool'), args, dependencies, ..."
    )
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="name → {type, default, required}"
    )
    max_parallel: int | None = Field(None, description="Steps of one execution running at once (8 if unset).")


class WorkflowOutput(BaseModel):
    workflow_id: str
    version: int
    definition: dict[str, Any]
    warnings: list[str] = Field(default_factory=list)


class GetWorkflowInput(StrictModel):
    workflow_id: str
    version: int | None = Field(None, description="A version; the latest when omitted.")


class ListWorkflowsInput(StrictModel):
    pattern: str | None = Field(None, description="Only workflows made from this pattern.")
    status: str | None = Field(None, description="Only workflows whose latest execution has this status.")


class WorkflowList(BaseModel):
    workflows: list[dict[str, Any]]


class ExecuteWorkflowInput(StrictModel):
    workflow_id: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    target_machines: list[str] = Field(default_factory=list)
    version: int | None = None
    execution_id: str | None = Field(
        None,
        pattern=EXECUTION_ID.pattern,
        description="An id of your choosing, so that a retry starts nothing twice: the same call again "
        "returns the execution it started; another call with this id is refused.",
    )


class ExecutionStarted(BaseModel):
    execution_id: str
    status: str
    created: bool = Field(description="False when this call had started it before (a retry).")


class StatusInput(StrictModel):
    execution_id: str


class ExecutionStatusOutput(BaseModel):
    execution_id: str
    workflow_id: str
    status: str
    progress: float = Field(description="Share of steps finished, 0..1.")
    estimated_completion: str | None
    step_states: dict[str, str]
    steps: list[dict[str, Any]]
    error: str | None
    result: dict[str, Any] | None = Field(None, description="Once finished: each step's result by step id.")


class ManageExecutionsInput(StrictModel):
    action: Literal["list", "get", "cancel", "pause", "resume", "decide"]
    execution_id: str | None = None
    workflow_id: str | None = Field(None, description="For 'list': only this workflow's executions.")
    status: str | None = Field(None, description="For 'list': only executions with this status.")
    step: str | None = Field(None, description="For 'decide': the held step.")
    decision: Literal["retry", "fail", "skip"] | None = Field(None, description="For 'decide'.")


class ExecutionsOutput(BaseModel):
    action: str
    executions: list[dict[str, Any]]


class MetricsInput(StrictModel):
    workflow_id: str | None = Field(None, description="One workflow; all when omitted.")
    since: datetime | None = Field(None, description="Executions created at or after this time (ISO 8601).")
    until: datetime | None = Field(None, description="Executions created before this time (ISO 8601).")


class MetricsOutput(BaseModel):
    executions: int
    by_status: dict[str, int]
    success_rate: float | None
    duration_p50_s: float | None
    duration_p95_s: float | None
    slowest_steps: list[dict[str, Any]]
    retries: int


class ExportInput(StrictModel):
    workflow_id: str


class ExportOutput(BaseModel):
    format: str
    workflow_id: str
    versions: list[dict[str, Any]]
    executions: list[dict[str, Any]]


def workflow_tools(engine: WorkflowEngine) -> dict[str, ManagementTool]:
    async def create(request: CreateWorkflowInput) -> WorkflowOutput:
        stored, warnings = await engine.create(request.model_dump(exclude_none=True))
        return WorkflowOutput(
            workflow_id=stored.definition.workflow_id,
            version=stored.version,
            definition=stored.definition.model_dump(mode="json"),
            warnings=[str(warning) for warning in warnings],
        )

    async def get(request: GetWorkflowInput) -> WorkflowOutput:
        stored = await engine.definition(request.workflow_id, request.version)
        return WorkflowOutput(
            workflow_id=stored.definition.workflow_id,
            version=stored.version,
            definition=stored.definition.model_dump(mode="json"),
        )

    async def listing(request: ListWorkflowsInput) -> WorkflowList:
        return WorkflowList(workflows=await engine.summaries(pattern=request.pattern, status=request.status))

    async def execute(request: ExecuteWorkflowInput) -> ExecutionStarted:
        started = await engine.start(
            request.workflow_id,
            request.parameters,
            execution_id=request.execution_id,
            version=request.version,
            target_machines=request.target_machines,
        )
        execution = started.execution
        return ExecutionStarted(
            execution_id=execution.id, status=execution.status.value, created=started.created
        )

    async def status(request: StatusInput) -> ExecutionStatusOutput:
        return ExecutionStatusOutput.model_validate(await engine.status(request.execution_id))

    async def manage(request: ManageExecutionsInput) -> ExecutionsOutput:
        if request.action == "list":
            executions = await engine.executions(workflow_id=request.workflow_id, status=request.status)
            return ExecutionsOutput(
                action="list", executions=[execution.to_json() for execution in executions]
            )
        execution_id = _needed(request.execution_id, "execution_id", request.action)
        if request.action == "cancel":
            await engine.cancel(execution_id)
        elif request.action == "pause":
            await engine.pause(execution_id)
        elif request.action == "resume":
            await engine.resume(execution_id)
        elif request.action == "decide":
            step = _needed(request.step, "step", "decide")
            await engine.decide(execution_id, step, _needed(request.decision, "decision", "decide"))
        return ExecutionsOutput(action=request.action, executions=[await engine.status(execution_id)])

    async def metrics(request: MetricsInput) -> MetricsOutput:
        return MetricsOutput.model_validate(
            await workflow_metrics(
                engine.history, workflow_id=request.workflow_id, since=request.since, until=request.until
            )
        )

    async def export(request: ExportInput) -> ExportOutput:
        return ExportOutput.model_validate(await export_workflow(engine, engine.history, request.workflow_id))

    return {
        tool.tool.name: tool
        for tool in (
            define_tool(
                "get_workflow_metrics",
                "Executions by status, success rate, p50/p95 duration, slowest steps, retries (time range).",
                MetricsInput,
                MetricsOutput,
                metrics,
            ),
            define_tool(
                "export_workflow_data",
                "A workflow's definition with every version, its executions and their step results.",
                ExportInput,
                ExportOutput,
                export,
            ),
            define_tool(
                "create_workflow",
                "Create a workflow (a DAG of tool calls), or a new version of one; validated when stored.",
                CreateWorkflowInput,
                WorkflowOutput,
                create,
            ),
            define_tool("get_workflow", "A workflow's definition.", GetWorkflowInput, WorkflowOutput, get),
            define_tool(
                "list_workflows",
                "Workflows, filtered by pattern or status.",
                ListWorkflowsInput,
                WorkflowList,
                listing,
            ),
            define_tool(
                "execute_workflow",
                "Start an execution of a workflow; returns its execution_id at once.",
                ExecuteWorkflowInput,
                ExecutionStarted,
                execute,
            ),
            define_tool(
                "get_workflow_status",
                "An execution's status, per-step states, progress and estimated completion.",
                StatusInput,
                ExecutionStatusOutput,
                status,
            ),
            define_tool(
                "manage_executions",
                "List, inspect, cancel, pause or resume executions, or decide a step held after a crash.",
                ManageExecutionsInput,
                ExecutionsOutput,
                manage,
            ),
        )
    }


def _needed(value: T | None, field: str, action: str) -> T:
    """Raises: InvalidInput when an action's argument is missing."""
    if value is None:
        raise InvalidInput(f"'{action}' needs '{field}'")
    return value
