"""A workflow definition as people write it (YAML or JSON), and the states of its executions."""

from __future__ import annotations

import enum
import re
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from corral.strict import StrictModel

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
WORKFLOW_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
EXECUTION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
"""An execution id a caller chooses (to start a run at most once): 1 to 64 letters, digits, '_.:-'."""


class ExecutionStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)


class StepStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (StepStatus.PENDING, StepStatus.RUNNING)


ErrorKind = Literal["tool_error", "timeout", "unavailable", "upstream_error", "invalid_arguments"]


class RetryPolicy(StrictModel):
    model_config = ConfigDict(frozen=True)

    attempts: int = Field(1, ge=1, le=100, description="Total attempts, the first included.")
    backoff_s: float = Field(1.0, ge=0, description="Wait before the second attempt; grows by `multiplier`.")
    multiplier: float = Field(2.0, ge=1, description="Growth of the wait between attempts.")
    max_backoff_s: float = Field(60.0, ge=0, description="Longest wait between attempts.")
    on: tuple[ErrorKind, ...] = Field(
        ("tool_error", "timeout", "unavailable", "upstream_error"), description="Which errors are retried."
    )

    def delay(self, attempt: int) -> float:
        """Wait before attempt ``attempt + 1`` (``attempt`` counts from 1)."""
        return min(self.backoff_s * self.multiplier ** (attempt - 1), self.max_backoff_s)


class StepDefinition(StrictModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)

    id: str = Field(description="Unique within the workflow; letters, digits, '_'; referenced as steps.<id>.")
    name: str | None = Field(None, description="A label for people.")
    tool: str | None = Field(
        None, description="'server__tool' as on the gateway, or the tool name with 'server'."
    )
    server: str | None = Field(None, description="The server, when 'tool' is the plain tool name.")
    capability: str | None = Field(
        None,
        max_length=128,
        description="Run the step as a task: routed to an agent with this capability, 'tool' called on it.",
    )
    workflow: str | None = Field(None, description="Run this workflow (its latest version) as the step.")
    args: dict[str, Any] = Field(
        default_factory=dict,
        alias="args",
        description="Arguments; strings may hold {{ expressions }} over params, steps, item and index.",
    )
    dependencies: tuple[str, ...] = Field((), description="Steps that must finish first.")
    when: str | None = Field(None, description="Run only when this expression is true; otherwise skipped.")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, description="Retries with backoff.")
    timeout: float | None = Field(None, gt=0, description="Deadline of one attempt, in seconds.")
    on_failure: Literal["fail", "continue", "skip_dependents"] = Field(
        "fail", description="fail the execution; continue as if it succeeded; skip what depends on it."
    )
    on_uncertain: Literal["retry", "fail", "hold"] = Field(
        "hold",
        description="A non-idempotent step in flight at a crash: run again, fail it, or hold for a person.",
    )
    for_each: str | None = Field(
        None, description="An expression giving a list; the step runs once per item."
    )
    concurrency: int = Field(4, ge=1, le=256, description="Items of a for_each running at once.")
    target_machines: tuple[str, ...] = Field(
        (), description="Nodes the step may run on: the step runs as a task that routing places there."
    )
    estimated_duration: float | None = Field(None, ge=0, description="Expected seconds, for estimates.")
    type: str | None = Field(None, description="Free description.")
    enforcement: Any = Field(None, description="Free description.")
    validation: Any = Field(None, description="Free description.")

    @model_validator(mode="before")
    @classmethod
    def _parameters_alias(cls, data: Any) -> Any:
        if isinstance(data, dict) and "parameters" in data:
            data = dict(data)
            if "args" in data:
                raise ValueError("give 'args' or 'parameters', not both")
            data["args"] = data.pop("parameters")
        return data

    @field_validator("id")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not IDENTIFIER.match(value):
            raise ValueError(
                f"step id {value!r} must be a letter or '_' then letters, digits or '_' (max 64)"
            )
        return value

    @model_validator(mode="after")
    def _one_action(self) -> StepDefinition:
        if (self.tool is None) == (self.workflow is None):
            raise ValueError("a step needs exactly one of 'tool' or 'workflow'")
        if self.server is not None and self.tool is None:
            raise ValueError("'server' goes with 'tool'")
        if self.capability is not None and self.tool is None:
            raise ValueError("'capability' goes with 'tool': the tool to call on the agent chosen")
        return self

    @property
    def routed(self) -> bool:
        """Whether the step runs as a task that routing places on an agent (by capability, or on the
        target machines) instead of calling a fixed server."""
        return self.tool is not None and (self.capability is not None or bool(self.target_machines))

    def target(self) -> tuple[str, str] | None:
        """(server, tool) of a tool step."""
        if self.tool is None:
            return None
        if self.server is not None:
            return self.server, self.tool
        server, separator, tool = self.tool.partition("__")
        return (server, tool) if separator else ("", self.tool)


class ParamSpec(StrictModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["string", "number", "integer", "boolean", "array", "object"] | None = None
    default: Any = None
    required: bool = False
    description: str = ""


class WorkflowDefinition(StrictModel):
    model_config = ConfigDict(frozen=True)

    workflow_id: str = Field(description="Stable id; every change makes a new version.")
    name: str = Field(description="A name for people.")
    description: str = ""
    pattern: str | None = Field(None, description="The pattern this workflow was made from, if any.")
    project: str | None = Field(None, max_length=128, description="The project the workflow belongs to.")
    params: dict[str, ParamSpec] = Field(
        default_factory=dict, description="Parameters with types and defaults."
    )
    max_parallel: int = Field(8, ge=1, le=1000, description="Steps of one execution running at once.")
    steps: tuple[StepDefinition, ...] = Field(min_length=1)

    @field_validator("workflow_id")
    @classmethod
    def _workflow_id(cls, value: str) -> str:
        if not WORKFLOW_ID.match(value):
            raise ValueError(f"workflow_id {value!r}: letters, digits, '_', '-', '.'; at most 128 characters")
        return value

    def step(self, step_id: str) -> StepDefinition:
        return next(step for step in self.steps if step.id == step_id)
