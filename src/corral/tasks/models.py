"""The values of tasks: what a task asks for (``TaskRequest``), the task as stored (``Task``), its
attempts, and the states both go through.

A task names a tool (``server__tool``, or a bare tool name several agents offer) or a capability plus
the tool to call on the agent chosen for it. It is stored before it is dispatched; each dispatch is an
attempt with its own number, and only the current attempt may record an outcome.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from corral.calls.failures import FailureKind
from corral.registry.models import GpuNeed
from corral.strict import StrictModel

MAX_PRIORITY = 100


class TaskState(enum.StrEnum):
    QUEUED = "queued"
    DISPATCHED = "dispatched"
    RUNNING = "running"
    HELD = "held"
    """In flight when the hub stopped, and its tool may not be safe to call again: waits for a decision."""
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (TaskState.COMPLETED, TaskState.FAILED, TaskState.CANCELLED)


class AttemptState(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    LOST = "lost"
    """The hub stopped while it ran."""
    CANCELLED = "cancelled"


class TaskRetry(StrictModel):
    """How often a task is tried, each time on the next eligible agent, and after which failures."""

    model_config = ConfigDict(frozen=True)

    attempts: int = Field(3, ge=1, le=20, description="Attempts in all, the first included.")
    on: tuple[FailureKind, ...] = Field(
        ("timeout", "unavailable", "upstream_error"),
        description="Failure kinds that are tried again: tool_error, timeout, unavailable, upstream_error, "
        "invalid_arguments.",
    )


class TaskRequest(StrictModel):
    """What a caller asks for: a task to route to an agent."""

    model_config = ConfigDict(frozen=True)

    tool: str | None = Field(
        None,
        max_length=256,
        description="'server__tool', or a tool name several agents offer; with 'capability', the tool to "
        "call on the agent chosen.",
    )
    capability: str | None = Field(
        None, max_length=128, description="Route to an agent with this capability."
    )
    arguments: dict[str, Any] = Field(default_factory=dict, description="The tool's arguments.")
    priority: int = Field(0, ge=-MAX_PRIORITY, le=MAX_PRIORITY, description="Higher runs first; then oldest.")
    timeout_s: float | None = Field(None, gt=0, le=86_400, description="Deadline of each attempt's call.")
    retry: TaskRetry = Field(default_factory=TaskRetry)
    target_machines: tuple[str, ...] = Field((), description="Only agents on these nodes.")
    agents: tuple[str, ...] = Field((), description="Only these agents ('<node>/<server>').")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels the agent must have.")
    preferred_labels: dict[str, str] = Field(
        default_factory=dict, description="Labels that make an agent preferred, not required."
    )
    gpu: GpuNeed | None = Field(None, description="GPUs the agent's node must have free.")
    model: str | None = Field(None, max_length=256, description="Prefer (require) an agent with this model.")
    project: str | None = Field(
        None, max_length=128, description="Only this project's agents; groups the task."
    )
    on_uncertain: Literal["retry", "fail", "hold"] = Field(
        "hold",
        description="In flight when the hub stopped and the tool is neither read-only nor idempotent: "
        "run it again, fail it, or hold it for a decision.",
    )

    @model_validator(mode="after")
    def _names_something(self) -> TaskRequest:
        if self.tool is None and self.capability is None:
            raise ValueError("a task names a 'tool', or a 'capability' and the 'tool' to call")
        if self.capability is not None and self.tool is None:
            raise ValueError(f"capability {self.capability!r}: name the 'tool' to call on the agent chosen")
        return self


@dataclass
class Attempt:
    task_id: str
    number: int
    agent: str
    state: AttemptState
    started_at: datetime
    finished_at: datetime | None = None
    error: str | None = None
    result: Any = None
    late: bool = False
    """An answer that came after the task had been settled otherwise (cancelled, or won by another)."""


@dataclass
class Task:
    id: str
    request: TaskRequest
    state: TaskState
    created_at: datetime
    actor: str
    attempt: int = 0
    agent: str | None = None
    group_id: str | None = None
    target: str | None = None
    """In a group: the target (agent or node) this task is for."""
    result: Any = None
    is_error: bool = False
    error: str | None = None
    failure: str | None = None
    """How the last attempt of a failed task failed (the kinds retry policies name)."""
    tried: list[str] = field(default_factory=list)
    """Agents already tried, in order: failover goes to another first."""
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def project(self) -> str | None:
        return self.request.project


Strategy = Literal["parallel", "race", "any", "sequential"]


class GroupState(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    """Every target succeeded (parallel, sequential running all), or one did (race, any, sequential)."""
    PARTIAL = "partial"
    """Some targets succeeded, some did not (parallel, sequential running all)."""
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self is not GroupState.RUNNING


class DistributeRequest(StrictModel):
    """One task over several targets, with a strategy."""

    model_config = ConfigDict(frozen=True)

    task: TaskRequest = Field(description="The task each target runs (its target_machines are ignored).")
    targets: tuple[str, ...] | None = Field(
        None,
        description="Agents ('<node>/<server>' or a server's name) or nodes to run it on; left out: every "
        "agent that could run it (for 'any': routing chooses among them).",
    )
    execution_strategy: Strategy = Field(
        "parallel",
        description="parallel: all, aggregated when all are done; race: the first success wins and the "
        "others are cancelled; any: routing picks one and fails over; sequential: one after another.",
    )
    stop_on_success: bool = Field(True, description="sequential: stop at the first success (else run all).")


@dataclass
class TaskGroup:
    id: str
    request: DistributeRequest
    targets: list[str]
    state: GroupState
    created_at: datetime
    actor: str
    winner: str | None = None
    finished_at: datetime | None = None
