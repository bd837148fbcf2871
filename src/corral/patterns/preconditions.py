"""Judging a pattern's preconditions and parameters against a snapshot of its target: pure, no I/O.

The snapshot is what the hub knew about the target at one moment (taken by the
patterns service from the supervisor); every precondition gets a result, passed
or not, with a message that says which server fails it and why. For a ``tag``
target a precondition holds when it holds for every member.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from corral.patterns.models import (
    ParameterProblem,
    Pattern,
    Precondition,
    PreconditionResult,
    TargetKind,
    ValidationReport,
)
from corral.workflow.models import ParamSpec

SERVING = ("healthy", "degraded")


@dataclass(frozen=True)
class ServerSnapshot:
    name: str
    enabled: bool = True
    status: str = "healthy"
    detail: str = ""
    circuit_state: str = "closed"
    transport: str = "stdio"
    tags: tuple[str, ...] = ()
    capabilities: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()


@dataclass(frozen=True)
class TargetSnapshot:
    """A target as the hub saw it: its name and the servers it covers (none when it does not exist)."""

    kind: TargetKind
    name: str
    members: tuple[ServerSnapshot, ...] = field(default_factory=tuple)

    @property
    def exists(self) -> bool:
        return bool(self.members)

    def describe(self) -> str:
        return f"server {self.name!r}" if self.kind == "server" else f"tag {self.name!r}"


def check_preconditions(
    preconditions: Sequence[Precondition], target: TargetSnapshot
) -> tuple[PreconditionResult, ...]:
    results = []
    for precondition in preconditions:
        passed, message = _check(precondition, target)
        results.append(PreconditionResult(precondition.label, passed, message, precondition.key))
    return tuple(results)


def _check(precondition: Precondition, target: TargetSnapshot) -> tuple[bool, str]:
    if not target.exists:
        missing = "no server is named" if target.kind == "server" else "no server carries the tag"
        return False, f"{missing} {target.name!r}"
    if precondition.kind == "exists":
        if target.kind == "server":
            return True, f"server {target.name!r} exists"
        return True, f"{len(target.members)} server(s) carry tag {target.name!r}"
    test, holds = _RULES[precondition.kind]
    value = precondition.value or ""
    failing = [(member, test(member, value)) for member in target.members]
    reasons = [f"{member.name!r} {reason}" for member, reason in failing if reason is not None]
    if reasons:
        return False, "; ".join(reasons)
    subject = target.describe() if target.kind == "server" else f"every server with tag {target.name!r}"
    return True, f"{subject} {holds.format(value=value)}"


def _enabled(server: ServerSnapshot, _: str) -> str | None:
    return None if server.enabled else "is disabled"


def _healthy(server: ServerSnapshot, _: str) -> str | None:
    if server.status in SERVING:
        return None
    return f"is {server.status}" + (f" ({server.detail})" if server.detail else "")


def _circuit_closed(server: ServerSnapshot, _: str) -> str | None:
    return None if server.circuit_state == "closed" else f"has its circuit {server.circuit_state}"


def _has_tool(server: ServerSnapshot, tool: str) -> str | None:
    if tool in server.tools:
        return None
    offered = ", ".join(sorted(server.tools)) or "nothing known"
    return f"offers no tool {tool!r} (it offers: {offered})"


def _has_tag(server: ServerSnapshot, tag: str) -> str | None:
    return None if tag in server.tags else f"has no tag {tag!r}"


def _has_capability(server: ServerSnapshot, capability: str) -> str | None:
    return None if capability in server.capabilities else f"has no capability {capability!r}"


def _transport(server: ServerSnapshot, transport: str) -> str | None:
    return None if server.transport == transport else f"uses {server.transport}, not {transport}"


# kind → (a test giving the reason a server fails it, or None; what passing says)
_RULES: dict[str, tuple[Callable[[ServerSnapshot, str], str | None], str]] = {
    "enabled": (_enabled, "is enabled"),
    "healthy": (_healthy, "serves (healthy or degraded)"),
    "circuit_closed": (_circuit_closed, "has its circuit closed"),
    "has_tool": (_has_tool, "offers tool {value!r}"),
    "has_tag": (_has_tag, "has tag {value!r}"),
    "has_capability": (_has_capability, "has capability {value!r}"),
    "transport": (_transport, "uses {value}"),
}


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
}


def check_params(
    specs: Mapping[str, ParamSpec], given: Mapping[str, Any]
) -> tuple[dict[str, Any], tuple[ParameterProblem, ...]]:
    """The parameters with defaults filled in, and a problem for every one that is unknown, missing or
    of the wrong type (all of them, not just the first)."""
    problems = [
        ParameterProblem(name, "not a parameter of this pattern" + _known(specs))
        for name in sorted(set(given) - set(specs))
    ]
    resolved: dict[str, Any] = {}
    for name, spec in specs.items():
        value = given[name] if name in given else spec.default
        if value is None and name not in given and spec.required:
            problems.append(ParameterProblem(name, "required"))
            continue
        if value is not None and spec.type is not None and not _is_type(value, spec.type):
            problems.append(ParameterProblem(name, f"expected {spec.type}, got {type(value).__name__}"))
            continue
        resolved[name] = value
    return resolved, tuple(problems)


def _is_type(value: Any, expected: str) -> bool:
    if expected in ("number", "integer") and isinstance(value, bool):
        return False
    return isinstance(value, _JSON_TYPES[expected])


def _known(specs: Mapping[str, ParamSpec]) -> str:
    return f" (it takes: {', '.join(sorted(specs))})" if specs else " (it takes none)"


def validate_application(
    pattern: Pattern, target: TargetSnapshot, params: Mapping[str, Any]
) -> ValidationReport:
    """Every precondition's result and every parameter problem of applying ``pattern`` to ``target``."""
    resolved, problems = check_params(pattern.params, params)
    return ValidationReport(
        pattern_id=pattern.id,
        target=target.name,
        preconditions=check_preconditions(pattern.preconditions, target),
        parameters=problems,
        params=resolved,
    )
