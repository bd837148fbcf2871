"""A pattern becomes a workflow for one target: target and members written in, 'each' steps chained."""

from __future__ import annotations

from typing import Any

from corral.patterns.instantiation import check_template, instantiate, literal, substitute, workflow_id
from corral.patterns.models import Pattern
from corral.workflow.engine import parse_definition
from corral.workflow.templates import render


def pattern(*steps: dict[str, Any], target: str = "server", **fields: Any) -> Pattern:
    return Pattern.model_validate(
        {"id": "demo", "name": "Demo", "target": target, "workflow": {"steps": list(steps)}, **fields}
    )


def test_target_is_written_in_as_a_literal_and_params_stay_for_the_engine() -> None:
    demo = pattern(
        {
            "id": "hello",
            "tool": "echo__echo",
            "args": {"text": "hi {{ target }} after {{ params.delay }}s", "name": "{{ target }}"},
            "when": "target != 'other'",
        },
        params={"delay": {"type": "number", "default": 1}},
    )

    document = instantiate(demo, "echo", ["echo"])

    (step,) = document["steps"]
    assert document["workflow_id"] == "pattern.demo.echo" and document["pattern"] == "demo"
    assert document["params"]["delay"]["default"] == 1
    assert step["args"]["name"] == "echo"
    assert render(step["args"]["text"], {"params": {"delay": 2}}) == "hi echo after 2s"
    assert render("{{ " + step["when"] + " }}", {}) is True
    parse_definition(document)


def test_a_step_may_call_a_tool_of_the_target_or_of_each_member() -> None:
    demo = pattern(
        {"id": "ask", "server": "{{ target }}", "tool": "echo", "args": {"text": "hi"}},
        {"id": "each_ask", "each": "members", "server": "{{ item }}", "tool": "echo", "args": {"text": "hi"}},
        target="tag",
    )

    steps = instantiate(demo, "web", ["web-a", "web-b"])["steps"]

    assert [(step["id"], step["server"]) for step in steps] == [
        ("ask", "web"), ("each_ask_1", "web-a"), ("each_ask_2", "web-b"),
    ]  # fmt: skip


def test_only_root_names_are_replaced_not_strings_attributes_or_keywords() -> None:
    values = {"target": "echo"}

    assert substitute("{{ 'target' ~ target }}", values) == "{{ 'target' ~ (\"echo\") }}"
    assert substitute("{{ steps.a.result.target }}", values) == "{{ steps.a.result.target }}"
    assert substitute("{{ params.target | default(target) }}", values) == (
        '{{ params.target | default(("echo")) }}'
    )
    assert substitute("plain target text", values) == "plain target text"
    assert substitute("{{ broken", values) == "{{ broken"


def test_literals_evaluate_back_to_their_values() -> None:
    for value in [
        "web-a",
        'quote " and \\ backslash',
        "ünïcode",
        3,
        2.5,
        True,
        None,
        ["a", 1],
        {"k": [False]},
    ]:
        assert render("{{ " + literal(value) + " }}", {}) == value


def test_an_each_step_becomes_a_chain_one_copy_per_member() -> None:
    demo = pattern(
        {"id": "check", "tool": "corral__list_tools", "args": {"name": "{{ target }}"}},
        {
            "id": "restart",
            "name": "Restart",
            "each": "members",
            "tool": "corral__restart_server",
            "args": {"name": "{{ item }}", "position": "{{ index }}", "all": "{{ members }}"},
            "dependencies": ["check"],
        },
        {"id": "done", "tool": "corral__assert", "args": {"that": True}, "dependencies": ["restart"]},
        target="tag",
    )

    document = instantiate(demo, "web", ["web-a", "web-b", "web-c"])

    steps = {step["id"]: step for step in document["steps"]}
    assert list(steps) == ["check", "restart_1", "restart_2", "restart_3", "done"]
    assert [steps[f"restart_{n}"]["dependencies"] for n in (1, 2, 3)] == [
        ["check"],
        ["check", "restart_1"],
        ["check", "restart_2"],
    ]
    assert steps["restart_2"]["args"] == {"name": "web-b", "position": 1, "all": ["web-a", "web-b", "web-c"]}
    assert steps["restart_3"]["name"] == "Restart web-c"
    assert steps["done"]["dependencies"] == ["restart_3"]
    assert "each" not in steps["restart_1"]
    parse_definition(document)


def test_workflow_ids_stay_valid_whatever_the_target_is_called() -> None:
    assert workflow_id("smoke-test", "echo") == "pattern.smoke-test.echo"
    assert workflow_id("rolling-restart", "team web/prod") == "pattern.rolling-restart.team-web-prod"
    assert len(workflow_id("rolling-restart", "x" * 300)) == 128


def test_a_template_the_engine_would_refuse_is_reported_with_its_key() -> None:
    steps: list[dict[str, Any]] = [
        {"id": "a", "tool": "corral__no_such_action", "args": {}},
        {"id": "b", "tool": "echo__echo", "args": {"text": "{{ steps.zzz.result }}"}, "dependencies": ["a"]},
        {"id": "c", "tool": "echo__echo", "args": {"text": "{{ item }}"}},
    ]
    bad_each = pattern({"id": "c", "tool": "echo__echo", "each": "everything", "for_each": "{{ [1] }}"})
    unparseable = pattern({"id": "a", "tool": "echo__echo", "workflow": "other"})

    assert check_template(pattern(*steps), {"assert": "ok"}) == [
        "workflow.steps.a.tool: server 'corral' has no tool 'no_such_action'",
        "workflow.steps.b.args.text: refers to steps.zzz, which is not a step",
        "workflow.steps.c.args.text: 'item' and 'index' exist only in a for_each step's args",
    ]
    assert check_template(bad_each) == [
        "workflow.steps.c.each: must be one of members",
        "workflow.steps.c.each: a step cannot have both 'each' and 'for_each'",
    ]
    assert (
        check_template(unparseable)[0] == "workflow.steps.0: a step needs exactly one of 'tool' or 'workflow'"
    )
