"""The expression language of definitions: types kept, text rendered, and a sandbox nothing escapes."""

from __future__ import annotations

from typing import Any

import pytest

from corral.workflow.results import as_data
from corral.workflow.templates import TemplateError, check, evaluate, render, templates_in

CONTEXT: dict[str, Any] = {
    "params": {"names": ["ada", "grace"], "count": 3, "options": {"deep": True}, "flag": False},
    "steps": {"fetch": {"result": {"rows": [1, 2, 3]}, "status": "completed", "text": "{}"}},
    "execution": {"id": "ex_1", "workflow_id": "wf"},
}


def test_a_string_that_is_one_expression_keeps_the_type_of_its_value() -> None:
    assert render("{{ params.names }}", CONTEXT) == ["ada", "grace"]
    assert render("{{ params.count }}", CONTEXT) == 3
    assert render("{{ params.options }}", CONTEXT) == {"deep": True}
    assert render("  {{ steps.fetch.result.rows | length }}  ", CONTEXT) == 3


def test_text_around_an_expression_renders_to_a_string() -> None:
    assert render("count={{ params.count }}", CONTEXT) == "count=3"
    assert render("{{ params.count }} and {{ params.names[0] }}", CONTEXT) == "3 and ada"


def test_templates_inside_nested_dicts_and_lists_are_rendered_and_the_rest_is_left_alone() -> None:
    value = {
        "plain": "no template",
        "number": 7,
        "nested": {"who": ["{{ params.names[1] }}", "{{ params.count }}"], "id": "run {{ execution.id }}"},
    }
    assert render(value, CONTEXT) == {
        "plain": "no template",
        "number": 7,
        "nested": {"who": ["grace", 3], "id": "run ex_1"},
    }


def test_templates_in_lists_every_template_with_its_path() -> None:
    found = dict(templates_in({"a": "{{ params.count }}", "b": ["x", {"c": "y {{ item }}"}], "d": 1}))
    assert found == {"a": "{{ params.count }}", "b[1].c": "y {{ item }}"}


@pytest.mark.parametrize(
    "source",
    ["{{ params.missing }}", "{{ [params.missing] }}", "x {{ params.missing }}", "{{ steps.ghost.result }}"],
)
def test_a_reference_to_something_missing_is_an_error(source: str) -> None:
    with pytest.raises(TemplateError, match="missing|ghost"):
        render(source, CONTEXT)


@pytest.mark.parametrize("source", ["params.count > 2", "{{ params.count > 2 }}", "  {{params.count > 2}} "])
def test_a_bare_expression_works_with_or_without_braces(source: str) -> None:
    assert evaluate(source, CONTEXT) is True
    assert check(source, expression=True).names == {"params"}


def test_a_bare_expression_refers_to_step_results() -> None:
    assert evaluate("steps.fetch.status == 'completed' and not params.flag", CONTEXT) is True
    assert evaluate("steps.fetch.result.rows", CONTEXT) == [1, 2, 3]


def test_a_condition_on_something_missing_is_an_error_not_a_false() -> None:
    with pytest.raises(TemplateError, match="missing"):
        evaluate("params.missing", CONTEXT)


def test_check_reports_the_names_and_the_steps_a_template_uses() -> None:
    uses = check("{{ steps.fetch.result }} {{ steps['other'].text }} {{ params.count }} {{ item }}")
    assert uses.names == {"steps", "params", "item"}
    assert uses.steps == {"fetch", "other"}


def test_check_refuses_a_syntax_error() -> None:
    with pytest.raises(TemplateError, match="syntax error"):
        check("{{ params.count + }}")


def test_check_refuses_a_template_that_is_too_long() -> None:
    with pytest.raises(TemplateError, match="longer than"):
        check("{{ params.count }}" + "x" * 10_000)


# Attempts to reach Python's internals, the environment or files from a definition. Each must be refused
# when the definition is checked, and again if it were ever evaluated.
INJECTIONS = [
    "{{ ''.__class__.__mro__ }}",
    "{{ params.__class__ }}",
    "{{ params['__class__'] }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum }}",
    "{{ lipsum.__globals__['os'] }}",
    "{{ range(10**9) }}",
    "{% include '/etc/passwd' %}",
    "{% import 'os' as os %}",
    "{% for x in params.names %}{{ x }}{% endfor %}",
    "{{ params.__globals__ }}",
    "{{ params.__builtins__ }}",
    "{{ params.items.__self__ }}",
    "{{ self }}",
    "{{ self._TemplateReference__context }}",
    "{{ config }}",
    "{{ environ }}",
    "{{ os }}",
    "{{ os.environ }}",
    "{{ request.application }}",
    "{{ namespace }}",
    "{{ joiner }}",
    "{{ dict }}",
    "{{ open('/etc/passwd').read() }}",
    "{{ __import__('os').system('true') }}",
]


@pytest.mark.parametrize("source", INJECTIONS)
def test_check_refuses_a_template_injection(source: str) -> None:
    with pytest.raises(TemplateError):
        check(source)


@pytest.mark.parametrize("source", INJECTIONS)
def test_rendering_refuses_a_template_injection(source: str) -> None:
    # A context whose params carry no key named like an attribute: params['__class__'] must not find one.
    context = {**CONTEXT, "params": {"names": ["ada"]}}
    with pytest.raises(TemplateError):
        render(source, context)
    with pytest.raises(TemplateError):
        render(f"text then {source}", context)


@pytest.mark.parametrize(
    "source",
    [
        "{{ params|attr('__class__') }}",
        "{{ ''|attr('_' ~ '_class__') }}",
        "{{ ''['__cla' ~ 'ss__'] }}",
        "{{ '{0.__class__}'.format(params) }}",
        "{{ params.names.append('x') }}",
        "{{ params.update({'count': 4}) }}",
    ],
)
def test_what_check_cannot_see_statically_the_sandbox_refuses_when_rendering(source: str) -> None:
    context: dict[str, Any] = {"params": {"names": ["ada"], "count": 3}}
    with pytest.raises(TemplateError):
        render(source, context)
    with pytest.raises(TemplateError):
        render(f"a {source} b", context)
    assert context == {"params": {"names": ["ada"], "count": 3}}


@pytest.mark.parametrize("source", ["{{ lipsum }}", "{{ environ }}", "{{ os }}", "{{ config }}"])
def test_a_condition_cannot_reach_globals_the_environment_or_files(source: str) -> None:
    with pytest.raises(TemplateError):
        evaluate(source, CONTEXT)


@pytest.mark.parametrize(
    "template",
    ["{{ 'a' * 10**9 }}", "{{ [0] * 10**7 }}", "{{ 2 ** 100000 }}", "{{ 7 ** 99999 }}"],
)
def test_templates_cannot_exhaust_memory_or_cpu(template: str) -> None:
    with pytest.raises(TemplateError, match="larger than|longer than"):
        render(template, {})


def test_small_repetitions_and_powers_still_work() -> None:
    assert render("{{ 'ab' * 3 }}", {}) == "ababab"
    assert render("{{ 2 ** 10 }}", {}) == 1024


def test_fromjson_parses_a_json_text_and_refuses_what_is_not_one() -> None:
    context = {"steps": {"read": {"text": '{"rows": [1, 2, 3]}', "result": 3}}}
    assert render("{{ steps.read.text | fromjson }}", context) == {"rows": [1, 2, 3]}
    assert evaluate("(steps.read.text | fromjson).rows | sum", context) == 6
    with pytest.raises(TemplateError, match="fromjson: not JSON"):
        render("{{ 'rows: 1' | fromjson }}", context)
    with pytest.raises(TemplateError, match="fromjson needs a string"):
        render("{{ steps.read.result | fromjson }}", context)


def test_a_step_result_that_is_a_json_document_in_a_string_is_data_to_templates() -> None:
    assert as_data('{"a": [1, 2]}') == {"a": [1, 2]}
    assert as_data(' [1, "x"]') == [1, "x"]
    assert as_data(['{"a": 1}', "plain"]) == [{"a": 1}, "plain"]
    # Not documents: left as the tool's schema says they are.
    assert as_data("42") == "42"
    assert as_data("true") == "true"
    assert as_data("{not json") == "{not json"
    assert as_data({"a": '{"b": 1}'}) == {"a": '{"b": 1}'}
