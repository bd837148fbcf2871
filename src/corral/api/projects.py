"""REST routes for projects: groups of servers, agents, workflows and tasks, with metrics per project."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field

from corral.api.authz import Admin
from corral.api.context import ApiContext, context
from corral.api.pages import DEFAULT_LIMIT, Cursor, Limit, Page, by_text, page_of
from corral.api.problems import documented
from corral.strict import StrictModel
from corral.tasks.views import ProjectMetricsOut, ProjectOut

router = APIRouter(prefix="/api/v1/projects", tags=["projects"])
Ctx = Annotated[ApiContext, Depends(context)]
PROJECTS = by_text("projects")


class ProjectIn(StrictModel):
    name: str = Field(description="Letters, digits, '_', '-', '.'; what servers, workflows and tasks name.")
    description: str = Field("", max_length=2000)


class ProjectChange(StrictModel):
    description: str = Field(max_length=2000)


class ProjectList(Page[ProjectOut]):
    """Projects sorted by name."""


@router.get("", summary="Projects with their members")
async def list_projects(ctx: Ctx, limit: Limit = DEFAULT_LIMIT, cursor: Cursor = None) -> ProjectList:
    projects = await ctx.projects.list()
    page, next_cursor = page_of(projects, lambda project: project.name, limit, PROJECTS, cursor)
    return ProjectList(items=[ProjectOut.of(project) for project in page], next_cursor=next_cursor)


@router.post("", status_code=201, summary="Make a project (admin)", responses=documented(409))
async def create_project(body: ProjectIn, _: Admin, ctx: Ctx) -> ProjectOut:
    return ProjectOut.of(await ctx.projects.create(body.name, body.description))


@router.get("/{name}", summary="A project with its servers, agents and workflows")
async def get_project(name: str, ctx: Ctx) -> ProjectOut:
    return ProjectOut.of(await ctx.projects.get(name))


@router.patch("/{name}", summary="Change a project's description (admin)")
async def update_project(name: str, body: ProjectChange, _: Admin, ctx: Ctx) -> ProjectOut:
    return ProjectOut.of(await ctx.projects.update(name, body.description))


@router.delete(
    "/{name}",
    status_code=204,
    summary="Delete a project that has no members (admin)",
    responses=documented(409),
)
async def delete_project(name: str, _: Admin, ctx: Ctx) -> None:
    await ctx.projects.delete(name)


@router.get(
    "/{name}/metrics", summary="Calls, errors and p95 of its servers; its tasks and executions by state"
)
async def project_metrics(name: str, ctx: Ctx) -> ProjectMetricsOut:
    return ProjectMetricsOut.of(await ctx.projects.metrics(name))
