"""REST routes for patterns and their applications."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from corral.api.context import ApiContext, context
from corral.api.pages import DEFAULT_LIMIT, Cursor, Limit, Page, by_text, by_time_and_id, next_page, page_of
from corral.api.problems import documented
from corral.patterns.models import Pattern, TargetKind
from corral.strict import StrictModel

router = APIRouter(prefix="/api/v1", tags=["patterns"])
Ctx = Annotated[ApiContext, Depends(context)]
PATTERNS = by_text("patterns")
APPLICATIONS = by_time_and_id("applications")


class PatternList(Page[dict[str, Any]]):
    """Patterns sorted by id."""

    problems: list[dict[str, str]] = Field(
        description="Pattern files that were skipped: file, key and what is wrong."
    )


class ApplyIn(StrictModel):
    target: str = Field(description="The server (or, for a tag pattern, the tag) to apply the pattern to.")
    params: dict[str, Any] = Field(default_factory=dict, description="The pattern's parameters.")


class ApplicationList(Page[dict[str, Any]]):
    """Applications, newest first."""


def pattern_view(ctx: ApiContext, pattern: Pattern) -> dict[str, Any]:
    return {
        **pattern.summary(),
        "source": ctx.patterns.library.source(pattern.id),
        "workflow": pattern.workflow.model_dump(mode="json"),
    }


@router.get("/patterns", summary="Patterns: the built-ins and those loaded from the patterns folder")
async def list_patterns(
    ctx: Ctx,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    target: Annotated[
        TargetKind | None, Query(description="Only patterns applied to one server, or to a tag.")
    ] = None,
) -> PatternList:
    patterns = [pattern for pattern in ctx.patterns.patterns() if target is None or pattern.target == target]
    page, next_cursor = page_of(patterns, lambda pattern: pattern.id, limit, PATTERNS, cursor)
    return PatternList(
        items=[pattern_view(ctx, pattern) for pattern in page],
        next_cursor=next_cursor,
        problems=[problem.to_json() for problem in ctx.patterns.library.problems],
    )


@router.get("/patterns/applications", summary="Applications of patterns, newest first")
async def list_applications(
    ctx: Ctx,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    pattern_id: Annotated[str | None, Query(description="Only applications of this pattern.")] = None,
    status: Annotated[str | None, Query(description="Only applications with this status.")] = None,
) -> ApplicationList:
    applications = await ctx.patterns.applications(
        pattern_id=pattern_id, status=status, limit=limit + 1, before=APPLICATIONS.key(cursor)
    )
    page, next_cursor = next_page(applications, limit, APPLICATIONS, lambda item: (item.created_at, item.id))
    return ApplicationList(items=[application.to_json() for application in page], next_cursor=next_cursor)


@router.get("/patterns/applications/{application_id}", summary="One application with its results")
async def get_application(application_id: str, ctx: Ctx) -> dict[str, Any]:
    return (await ctx.patterns.application(application_id)).to_json()


@router.get("/patterns/{pattern_id}", summary="A pattern with its workflow template")
async def get_pattern(pattern_id: str, ctx: Ctx) -> dict[str, Any]:
    return pattern_view(ctx, ctx.patterns.pattern(pattern_id))


@router.post(
    "/patterns/{pattern_id}/validate",
    summary="Whether the pattern can be applied to a target: every precondition and parameter judged",
)
async def validate_pattern(pattern_id: str, body: ApplyIn, ctx: Ctx) -> dict[str, Any]:
    return ctx.patterns.validate(pattern_id, body.target, body.params).to_json()


@router.post(
    "/patterns/{pattern_id}/apply",
    status_code=202,
    summary="Validate, instantiate and run the pattern; 422 with every failure when it cannot apply",
    responses=documented(409),
)
async def apply_pattern(pattern_id: str, body: ApplyIn, ctx: Ctx) -> dict[str, Any]:
    return (await ctx.patterns.apply(pattern_id, body.target, body.params)).to_json()
