"""Preconditions and parameters judged against a snapshot of the target: pure, every failure named."""

from __future__ import annotations

from typing import Any

from corral.patterns.models import Pattern, Precondition
from corral.patterns.preconditions import (
    ServerSnapshot,
    TargetSnapshot,
    check_params,
    check_preconditions,
    validate_application,
)
from corral.workflow.models import ParamSpec

ECHO = ServerSnapshot("echo", tools=("echo", "add"), tags=("web",), capabilities=("text",))


def conditions(*items: Any) -> list[Precondition]:
    return [Precondition.model_validate(item) for item in items]


def pattern(**fields: Any) -> Pattern:
    return Pattern.model_validate(
        {
            "id": "probe",
            "name": "Probe",
            "target": "server",
            "workflow": {"steps": [{"id": "a", "tool": "corral__assert", "args": {"that": True}}]},
            **fields,
        }
    )


def test_every_precondition_passes_for_a_healthy_server_that_has_what_is_asked() -> None:
    results = check_preconditions(
        conditions(
            "exists", "enabled", "healthy", "circuit_closed",
            {"has_tool": "echo"}, {"has_tag": "web"}, {"has_capability": "text"}, {"transport": "stdio"},
        ),
        TargetSnapshot("server", "echo", (ECHO,)),
    )  # fmt: skip

    assert [result.passed for result in results] == [True] * 8
    assert results[4].precondition == "has_tool: echo"
    assert results[4].message == "server 'echo' offers tool 'echo'"


def test_a_missing_server_fails_every_precondition_saying_it_does_not_exist() -> None:
    results = check_preconditions(conditions("exists", "healthy"), TargetSnapshot("server", "ghost"))

    assert [(result.passed, result.message) for result in results] == [
        (False, "no server is named 'ghost'"),
        (False, "no server is named 'ghost'"),
    ]


def test_each_failing_precondition_says_why() -> None:
    down = ServerSnapshot(
        "echo", enabled=False, status="disconnected", detail="process exited (code 3)",
        circuit_state="open", transport="http", tools=("add",),
    )  # fmt: skip

    results = check_preconditions(
        conditions("enabled", "healthy", "circuit_closed", {"has_tool": "echo"}, {"transport": "stdio"}),
        TargetSnapshot("server", "echo", (down,)),
    )

    assert [result.passed for result in results] == [False] * 5
    assert [result.message for result in results] == [
        "'echo' is disabled",
        "'echo' is disconnected (process exited (code 3))",
        "'echo' has its circuit open",
        "'echo' offers no tool 'echo' (it offers: add)",
        "'echo' uses http, not stdio",
    ]


def test_a_degraded_server_still_counts_as_healthy() -> None:
    degraded = ServerSnapshot("echo", status="degraded")

    (result,) = check_preconditions(conditions("healthy"), TargetSnapshot("server", "echo", (degraded,)))

    assert result.passed


def test_a_tag_target_holds_when_every_member_holds_and_names_the_members_that_do_not() -> None:
    members = (
        ServerSnapshot("web-a"),
        ServerSnapshot("web-b", status="circuit_open"),
        ServerSnapshot("web-c", status="starting"),
    )

    exists, healthy = check_preconditions(
        conditions("exists", "healthy"), TargetSnapshot("tag", "web", members)
    )

    assert exists.passed and exists.message == "3 server(s) carry tag 'web'"
    assert not healthy.passed
    assert healthy.message == "'web-b' is circuit_open; 'web-c' is starting"


def test_a_tag_nobody_carries_does_not_exist() -> None:
    (result,) = check_preconditions(conditions("exists"), TargetSnapshot("tag", "db"))

    assert not result.passed and result.message == "no server carries the tag 'db'"


def test_parameters_get_their_defaults_and_every_problem_is_named() -> None:
    specs = {
        "timeout_s": ParamSpec(type="number", default=30),
        "count": ParamSpec(type="integer", required=True),
        "label": ParamSpec(type="string", required=True),
        "flag": ParamSpec(type="boolean"),
    }

    resolved, problems = check_params(specs, {"timeout_s": "soon", "flag": 1, "colour": "red"})

    assert {problem.name: problem.message for problem in problems} == {
        "colour": "not a parameter of this pattern (it takes: count, flag, label, timeout_s)",
        "timeout_s": "expected number, got str",
        "count": "required",
        "label": "required",
        "flag": "expected boolean, got int",
    }
    assert resolved == {}


def test_a_boolean_is_not_a_number_and_defaults_fill_what_is_not_given() -> None:
    specs = {"timeout_s": ParamSpec(type="number", default=30), "retries": ParamSpec(type="integer")}

    resolved, problems = check_params(specs, {"retries": True})
    fine, none = check_params(specs, {"retries": 2})

    assert [problem.name for problem in problems] == ["retries"]
    assert fine == {"timeout_s": 30, "retries": 2} and none == ()


def test_validation_names_every_failing_precondition_and_parameter_together() -> None:
    probe = pattern(
        params={"timeout_s": {"type": "number", "default": 5}, "tool": {"type": "string", "required": True}},
        preconditions=["exists", "healthy", {"has_tool": "search"}, {"has_tag": "web"}],
    )
    down = ServerSnapshot("echo", status="disconnected", tools=("echo",))

    report = validate_application(probe, TargetSnapshot("server", "echo", (down,)), {"timeout_s": "x"})

    assert not report.ok
    assert [(result.precondition, result.passed) for result in report.preconditions] == [
        ("exists", True),
        ("healthy", False),
        ("has_tool: search", False),
        ("has_tag: web", False),
    ]
    assert report.errors() == [
        "preconditions.healthy: 'echo' is disconnected",
        "preconditions.has_tool(search): 'echo' offers no tool 'search' (it offers: echo)",
        "preconditions.has_tag(web): 'echo' has no tag 'web'",
        "params.timeout_s: expected number, got str",
        "params.tool: required",
    ]
    assert report.to_json()["ok"] is False


def test_a_valid_application_reports_ok_with_its_resolved_parameters() -> None:
    probe = pattern(params={"timeout_s": {"type": "number", "default": 5}}, preconditions=["exists"])

    report = validate_application(probe, TargetSnapshot("server", "echo", (ECHO,)), {})

    assert report.ok and report.errors() == [] and report.params == {"timeout_s": 5}
