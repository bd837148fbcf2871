"""A pattern as people write it (YAML), and the records of its applications.

A pattern is a workflow template with a target (one server, or the servers
carrying a tag), typed parameters and preconditions on the target. Its steps
are workflow steps whose templates may also use ``target`` (the target's name)
and ``members`` (the names of the servers it covers); a step with
``each: members`` becomes one copy per member, each after the one before.
Checking a template and turning it into a workflow is ``instantiation``'s job.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from corral.strict import StrictModel
from corral.workflow.models import IDENTIFIER, ParamSpec

PATTERN_ID = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")

TargetKind = Literal["server", "tag"]
PreconditionKind = Literal[
    "exists", "enabled", "healthy", "circuit_closed", "has_tool", "has_tag", "has_capability", "transport"
]
NEEDS_VALUE: frozenset[str] = frozenset({"has_tool", "has_tag", "has_capability", "transport"})


class Precondition(StrictModel):
    """One condition on the target; written ``- healthy`` or ``- has_tool: echo``."""

    model_config = ConfigDict(frozen=True)

    kind: PreconditionKind = Field(description="What is required of the target (of every member of a tag).")
    value: str | None = Field(
        None, description="The tool, tag, capability or transport, for kinds that name one."
    )

    @model_validator(mode="before")
    @classmethod
    def _short_forms(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"kind": data}
        if isinstance(data, dict) and len(data) == 1 and "kind" not in data:
            ((kind, value),) = data.items()
            return {"kind": kind, "value": value}
        return data

    @model_validator(mode="after")
    def _value_matches_kind(self) -> Precondition:
        if self.kind in NEEDS_VALUE and not self.value:
            raise ValueError(f"'{self.kind}' needs a value, e.g. '{self.kind}: name'")
        if self.kind not in NEEDS_VALUE and self.value is not None:
            raise ValueError(f"'{self.kind}' takes no value")
        return self

    @property
    def label(self) -> str:
        """As written in a pattern file: ``healthy``, ``has_tool: echo``."""
        return self.kind if self.value is None else f"{self.kind}: {self.value}"

    @property
    def key(self) -> str:
        """As it names a failure: ``preconditions.healthy``, ``preconditions.has_tool(echo)``."""
        return self.kind if self.value is None else f"{self.kind}({self.value})"


class WorkflowTemplate(StrictModel):
    model_config = ConfigDict(frozen=True)

    max_parallel: int = Field(8, ge=1, le=1000, description="Steps of one execution running at once.")
    steps: tuple[dict[str, Any], ...] = Field(
        min_length=1, description="Workflow steps; may use {{ target }}, {{ members }} and 'each: members'."
    )


class Pattern(StrictModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Stable id: lower-case letters, digits, '-', '_', '.'.")
    name: str = Field(description="A name for people.")
    description: str = ""
    target: TargetKind = Field(description="'server': one server by name; 'tag': every server with the tag.")
    params: dict[str, ParamSpec] = Field(
        default_factory=dict, description="Parameters with types and defaults."
    )
    preconditions: tuple[Precondition, ...] = Field((), description="What the target must satisfy.")
    workflow: WorkflowTemplate

    @field_validator("id")
    @classmethod
    def _pattern_id(cls, value: str) -> str:
        if not PATTERN_ID.match(value):
            raise ValueError(f"pattern id {value!r}: lower-case letters, digits, '-', '_', '.'; at most 64")
        return value

    @field_validator("params")
    @classmethod
    def _param_names(cls, value: dict[str, ParamSpec]) -> dict[str, ParamSpec]:
        for name in value:
            if not IDENTIFIER.match(name):
                raise ValueError(
                    f"parameter name {name!r} must be a letter or '_' then letters, digits or '_'"
                )
        return value

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "target": self.target,
            "params": {name: spec.model_dump(mode="json") for name, spec in self.params.items()},
            "preconditions": [precondition.label for precondition in self.preconditions],
        }


# -- validation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class PreconditionResult:
    precondition: str
    passed: bool
    message: str
    key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "precondition": self.precondition,
            "key": self.key,
            "passed": self.passed,
            "message": self.message,
        }


@dataclass(frozen=True)
class ParameterProblem:
    name: str
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "message": self.message}


@dataclass(frozen=True)
class ValidationReport:
    """Whether a pattern can be applied to a target with these parameters, and every reason why not."""

    pattern_id: str
    target: str
    preconditions: tuple[PreconditionResult, ...]
    parameters: tuple[ParameterProblem, ...]
    params: dict[str, Any]

    @property
    def ok(self) -> bool:
        return not self.parameters and all(result.passed for result in self.preconditions)

    def errors(self) -> list[str]:
        return [
            f"preconditions.{result.key}: {result.message}"
            for result in self.preconditions
            if not result.passed
        ] + [f"params.{problem.name}: {problem.message}" for problem in self.parameters]

    def to_json(self) -> dict[str, Any]:
        return {
            "pattern_id": self.pattern_id,
            "target": self.target,
            "ok": self.ok,
            "preconditions": [result.to_json() for result in self.preconditions],
            "parameters": [problem.to_json() for problem in self.parameters],
            "params": self.params,
            "errors": self.errors(),
        }


# -- applications ---------------------------------------------------------------------------


class ApplicationStatus(enum.StrEnum):
    REJECTED = "rejected"
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self not in (ApplicationStatus.PENDING, ApplicationStatus.RUNNING)


@dataclass(frozen=True)
class Application:
    """One application of a pattern: what was asked, what validation said, and how its execution ended."""

    id: str
    pattern_id: str
    target_kind: str
    target: str
    params: dict[str, Any]
    status: ApplicationStatus
    validation: dict[str, Any]
    workflow_id: str | None
    workflow_version: int | None
    execution_id: str | None
    results: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "application_id": self.id,
            "pattern_id": self.pattern_id,
            "target_kind": self.target_kind,
            "target": self.target,
            "params": self.params,
            "status": self.status.value,
            "validation": self.validation,
            "workflow_id": self.workflow_id,
            "workflow_version": self.workflow_version,
            "execution_id": self.execution_id,
            "results": self.results,
            "error": self.error,
            "created_at": self.created_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }
