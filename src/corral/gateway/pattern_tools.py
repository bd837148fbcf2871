"""Corral's pattern tools for MCP clients: list patterns, validate an application, apply one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from corral.auth.principal import Role
from corral.gateway.management import ManagementTool, define_tool
from corral.patterns.applications import PatternService
from corral.strict import StrictModel


class ListPatternsInput(StrictModel):
    pass


class PatternListOutput(BaseModel):
    patterns: list[dict[str, Any]] = Field(
        description="id, name, description, target kind, params, preconditions."
    )
    problems: list[dict[str, str]] = Field(description="Pattern files that were skipped, and why.")


class ApplicationInput(StrictModel):
    pattern_id: str = Field(description="The pattern, e.g. 'restart-and-verify'.")
    target: str = Field(description="The server (or, for a tag pattern, the tag) to apply it to.")
    parameters: dict[str, Any] = Field(default_factory=dict, description="The pattern's parameters.")


class ValidationOutput(BaseModel):
    pattern_id: str
    target: str
    ok: bool = Field(description="Whether the pattern can be applied now.")
    preconditions: list[dict[str, Any]] = Field(description="Every precondition: passed or not, and why.")
    parameters: list[dict[str, Any]] = Field(
        description="Every parameter that is unknown, missing or mistyped."
    )
    params: dict[str, Any] = Field(description="The parameters with their defaults.")
    errors: list[str] = Field(description="Every failure, one line each.")


class ApplicationOutput(BaseModel):
    application_id: str
    pattern_id: str
    target_kind: str
    target: str
    params: dict[str, Any]
    status: str = Field(description="pending, running, completed, failed, cancelled or rejected.")
    validation: dict[str, Any]
    workflow_id: str | None
    workflow_version: int | None
    execution_id: str | None = Field(description="Follow it with get_workflow_status.")
    results: dict[str, Any] | None
    error: str | None
    created_at: str
    finished_at: str | None


def pattern_tools(service: PatternService) -> dict[str, ManagementTool]:
    async def listing(_: ListPatternsInput) -> PatternListOutput:
        return PatternListOutput(
            patterns=[pattern.summary() for pattern in service.patterns()],
            problems=[problem.to_json() for problem in service.library.problems],
        )

    async def validate(request: ApplicationInput) -> ValidationOutput:
        report = service.validate(request.pattern_id, request.target, request.parameters)
        return ValidationOutput.model_validate(report.to_json())

    async def apply(request: ApplicationInput) -> ApplicationOutput:
        application = await service.apply(request.pattern_id, request.target, request.parameters)
        return ApplicationOutput.model_validate(application.to_json())

    return {
        tool.tool.name: tool
        for tool in (
            define_tool(
                "list_patterns",
                "Patterns Corral can apply (restart-and-verify, rolling-restart, smoke-test, and any loaded "
                "from the patterns folder), with their parameters and preconditions.",
                ListPatternsInput,
                PatternListOutput,
                listing,
                least_role=Role.VIEWER,
            ),
            define_tool(
                "validate_pattern_application",
                "Whether a pattern can be applied to a target now: every precondition and parameter judged.",
                ApplicationInput,
                ValidationOutput,
                validate,
                least_role=Role.VIEWER,
            ),
            define_tool(
                "apply_pattern",
                "Validate a pattern against a target, then run it as a workflow; returns the application "
                "(its execution_id can be followed with get_workflow_status).",
                ApplicationInput,
                ApplicationOutput,
                apply,
            ),
        )
    }
