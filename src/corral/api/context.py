"""What the routes need from the hub, handed over by the composition root."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from corral.clock import Clock
from corral.cluster.builtin import NodeDirectory
from corral.events.log import EventLog
from corral.gateway.endpoint import Endpoint
from corral.patterns.applications import PatternService
from corral.projects.projects import Projects
from corral.registry.registry import Registry
from corral.retention.pruner import Pruner
from corral.settings.live import LiveSettings
from corral.supervisor.supervisor import Supervisor
from corral.tasks.dispatcher import TaskDispatcher
from corral.tasks.groups import TaskGroups
from corral.workflow.engine import WorkflowEngine


@dataclass(frozen=True)
class ApiContext:
    registry: Registry
    supervisor: Supervisor
    settings: LiveSettings
    clock: Clock
    readiness: Callable[[], tuple[bool, dict[str, Any]]]
    workflows: WorkflowEngine
    patterns: PatternService
    gateway: Endpoint
    """The aggregated MCP endpoint: its tools, and the one path a tool call takes."""
    tasks: TaskDispatcher
    task_groups: TaskGroups
    projects: Projects
    nodes: NodeDirectory
    """The nodes the hub knows: for now its built-in one."""
    retention: Pruner
    event_log: EventLog


def context(request: Request) -> ApiContext:
    found: ApiContext = request.app.state.corral
    return found
