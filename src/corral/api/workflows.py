"""REST routes for workflows and their executions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import yaml
from fastapi import APIRouter, Body, Depends, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, field_validator

from corral.api.context import ApiContext, context
from corral.api.pages import (
    DEFAULT_LIMIT,
    Cursor,
    Limit,
    Page,
    by_number,
    by_text,
    by_time_and_id,
    limit_query,
    next_page,
)
from corral.api.problems import documented
from corral.errors import InvalidInput
from corral.strict import StrictModel
from corral.workflow.history import EXPORT_FORMAT, export_workflow, import_workflow, workflow_metrics
from corral.workflow.models import EXECUTION_ID
from corral.workflow.store import StoredWorkflow

router = APIRouter(prefix="/api/v1", tags=["workflows"])
Ctx = Annotated[ApiContext, Depends(context)]
ExecutionId = Annotated[
    str, Field(pattern=EXECUTION_ID.pattern, description="1 to 64 letters, digits, '_', '.', ':', '-'.")
]
WORKFLOWS = by_text("workflows")
EXECUTIONS = by_time_and_id("executions")
EVENTS = by_number("execution-events")
EVENTS_DEFAULT_LIMIT = 1000


class WorkflowOut(BaseModel):
    workflow_id: str
    version: int
    created_at: str
    definition: dict[str, Any]
    warnings: list[str] = Field(
        default_factory=list, description="Problems that did not stop the definition."
    )


class WorkflowSummaries(Page[dict[str, Any]]):
    """Workflows sorted by id."""


class ExecuteIn(StrictModel):
    parameters: dict[str, Any] = Field(default_factory=dict)
    target_machines: list[str] = Field(default_factory=list)
    version: int | None = Field(None, description="A version to run; the latest when omitted.")
    execution_id: ExecutionId | None = Field(
        None,
        description="An id of your choosing, so that a retry starts nothing twice: the same request "
        "again answers 200 with the execution it started; another request with this id is a 409.",
    )


class ExecutionStarted(BaseModel):
    execution_id: str
    status: str = Field(description="The execution's status now.")
    created: bool = Field(description="False when this request had started it before (a retry).")


class ExecutionList(Page[dict[str, Any]]):
    """Executions, newest first."""


class EventList(Page[dict[str, Any]]):
    """An execution's events in order of their sequence number."""


class ExportedVersion(StrictModel):
    version: int
    created_at: Any = None
    definition: dict[str, Any]


class WorkflowExport(StrictModel):
    """What ``GET /workflows/{id}/export`` gave (as JSON)."""

    format: str = Field(description="'corral.workflow-export/1'.")
    workflow_id: str
    versions: list[ExportedVersion] = Field(min_length=1)
    executions: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("format")
    @classmethod
    def _format(cls, value: str) -> str:
        if value != EXPORT_FORMAT:
            raise ValueError(f"not a workflow export: expected format {EXPORT_FORMAT!r}, got {value!r}")
        return value


class Decision(StrictModel):
    action: Literal["retry", "fail", "skip"]


def _out(stored: StoredWorkflow, warnings: list[str] | None = None) -> WorkflowOut:
    return WorkflowOut(
        workflow_id=stored.definition.workflow_id,
        version=stored.version,
        created_at=stored.created_at.isoformat(),
        definition=stored.definition.model_dump(mode="json"),
        warnings=warnings or [],
    )


@router.get("/workflows", summary="Workflows (latest versions) with their latest execution, sorted by id")
async def list_workflows(
    ctx: Ctx,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    pattern: Annotated[str | None, Query(description="Only workflows made from this pattern.")] = None,
    status: Annotated[
        str | None, Query(description="Only those whose latest execution has this status.")
    ] = None,
) -> WorkflowSummaries:
    summaries = await ctx.workflows.summaries(
        pattern=pattern, status=status, after=WORKFLOWS.key(cursor), limit=limit + 1
    )
    page, next_cursor = next_page(summaries, limit, WORKFLOWS, lambda summary: str(summary["workflow_id"]))
    return WorkflowSummaries(items=page, next_cursor=next_cursor)


@router.post("/workflows", status_code=201, summary="Create a workflow, or a new version of one")
async def create_workflow(ctx: Ctx, definition: Annotated[dict[str, Any], Body()]) -> WorkflowOut:
    stored, warnings = await ctx.workflows.create(definition)
    return _out(stored, [str(warning) for warning in warnings])


@router.get("/workflows/metrics", summary="Counts by status, success rate, p50/p95 duration, slowest steps")
async def metrics(
    ctx: Ctx,
    workflow_id: Annotated[str | None, Query(description="One workflow; all when omitted.")] = None,
    since: Annotated[datetime | None, Query(description="Executions created at or after (ISO 8601).")] = None,
    until: Annotated[datetime | None, Query(description="Executions created before (ISO 8601).")] = None,
) -> dict[str, Any]:
    return await workflow_metrics(ctx.workflows.history, workflow_id=workflow_id, since=since, until=until)


@router.post("/workflows/import", status_code=201, summary="Bring back a workflow exported from a hub")
async def import_(ctx: Ctx, document: WorkflowExport) -> dict[str, Any]:
    return await import_workflow(ctx.workflows, ctx.workflows.history, document.model_dump())


@router.get(
    "/workflows/{workflow_id}/export",
    summary="A workflow's versions, executions and step results, as JSON or YAML",
    responses={200: {"content": {"application/json": {}, "application/yaml": {}}}},
)
async def export(
    workflow_id: str, ctx: Ctx, format: Annotated[Literal["json", "yaml"], Query()] = "json"
) -> Response:
    document = await export_workflow(ctx.workflows, ctx.workflows.history, workflow_id)
    if format == "yaml":
        return Response(
            yaml.safe_dump(document, sort_keys=False, allow_unicode=True), media_type="application/yaml"
        )
    return JSONResponse(document)


@router.get("/workflows/{workflow_id}", summary="A workflow's definition (latest, or ?version=N)")
async def get_workflow(
    workflow_id: str, ctx: Ctx, version: Annotated[int | None, Query(ge=1)] = None
) -> WorkflowOut:
    return _out(await ctx.workflows.definition(workflow_id, version))


@router.post(
    "/workflows/{workflow_id}/execute",
    status_code=202,
    summary="Start an execution (once per execution_id or Idempotency-Key)",
    responses={
        200: {"model": ExecutionStarted, "description": "This request had started it before: the same one."},
        **documented(409),
    },
)
async def execute_workflow(
    workflow_id: str,
    body: ExecuteIn,
    ctx: Ctx,
    response: Response,
    idempotency_key: Annotated[
        ExecutionId | None,
        Header(alias="Idempotency-Key", description="The same as the body's execution_id."),
    ] = None,
) -> ExecutionStarted:
    if body.execution_id and idempotency_key and body.execution_id != idempotency_key:
        raise InvalidInput("execution_id and the Idempotency-Key header differ; give one, or both the same")
    started = await ctx.workflows.start(
        workflow_id,
        body.parameters,
        execution_id=body.execution_id or idempotency_key,
        version=body.version,
        target_machines=body.target_machines,
    )
    if not started.created:
        response.status_code = 200
    execution = started.execution
    return ExecutionStarted(execution_id=execution.id, status=execution.status.value, created=started.created)


@router.get("/executions", summary="Executions, newest first")
async def list_executions(
    ctx: Ctx,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    workflow_id: Annotated[str | None, Query(description="Only executions of this workflow.")] = None,
    status: Annotated[str | None, Query(description="Only executions with this status.")] = None,
) -> ExecutionList:
    executions = await ctx.workflows.executions(
        workflow_id=workflow_id, status=status, limit=limit + 1, before=EXECUTIONS.key(cursor)
    )
    page, next_cursor = next_page(
        executions, limit, EXECUTIONS, lambda execution: (execution.created_at, execution.id)
    )
    return ExecutionList(items=[execution.to_json() for execution in page], next_cursor=next_cursor)


@router.get("/executions/{execution_id}", summary="An execution with its steps, progress and estimate")
async def get_execution(execution_id: str, ctx: Ctx) -> dict[str, Any]:
    return await ctx.workflows.status(execution_id)


@router.get("/executions/{execution_id}/events", summary="An execution's events in order")
async def execution_events(
    execution_id: str,
    ctx: Ctx,
    limit: Annotated[int, limit_query(EVENTS_DEFAULT_LIMIT, 5000)] = EVENTS_DEFAULT_LIMIT,
    cursor: Cursor = None,
    after: Annotated[int, Query(ge=0, description="Only events after this sequence number.")] = 0,
) -> EventList:
    start = max(after, EVENTS.key(cursor) or 0)
    events = await ctx.workflows.events(execution_id, start, limit + 1)
    page, next_cursor = next_page(events, limit, EVENTS, lambda event: int(event["seq"]))
    return EventList(items=page, next_cursor=next_cursor)


@router.post(
    "/executions/{execution_id}/cancel",
    status_code=202,
    summary="Cancel; running calls are cancelled",
    responses=documented(409),
)
async def cancel_execution(execution_id: str, ctx: Ctx) -> dict[str, Any]:
    await ctx.workflows.cancel(execution_id)
    return await ctx.workflows.status(execution_id)


@router.post(
    "/executions/{execution_id}/pause",
    status_code=202,
    summary="Pause once the running steps finish",
    responses=documented(409),
)
async def pause_execution(execution_id: str, ctx: Ctx) -> dict[str, Any]:
    await ctx.workflows.pause(execution_id)
    return await ctx.workflows.status(execution_id)


@router.post(
    "/executions/{execution_id}/resume",
    status_code=202,
    summary="Resume a paused execution",
    responses=documented(409),
)
async def resume_execution(execution_id: str, ctx: Ctx) -> dict[str, Any]:
    await ctx.workflows.resume(execution_id)
    return await ctx.workflows.status(execution_id)


@router.post(
    "/executions/{execution_id}/steps/{step}/decide",
    status_code=202,
    summary="Settle a step that was in flight at a crash and is held for a person",
    responses=documented(409),
)
async def decide_step(execution_id: str, step: str, decision: Decision, ctx: Ctx) -> dict[str, Any]:
    await ctx.workflows.decide(execution_id, step, decision.action)
    return await ctx.workflows.status(execution_id)
