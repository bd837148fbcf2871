"""Turning a pattern into a workflow definition for one target: pure, no I/O.

What is known when a pattern is applied is written into the workflow as
literals: ``target`` (the target's name) and ``members`` (its servers' names)
in every template, and ``item``/``index`` in the copies of an ``each`` step.
The names are replaced token by token (Jinja's own lexer), so a string or an
attribute that happens to be called ``target`` is left alone. What is only
known when it runs (``params``, ``steps``, a ``for_each``'s ``item``) stays a
template for the workflow engine.

A step's ``server`` may be ``{{ target }}`` (or ``{{ item }}`` in an ``each``
step), so a pattern can call a tool of the server it is applied to.

A step with ``each: members`` becomes a chain of copies ``<id>_1``, ``<id>_2``, …
(one per member, in name order), each depending on the one before: the engine
stops at the first copy that fails, which is what a rolling change needs (a
``for_each`` runs every item whatever happened to the others). A step that
depends on an ``each`` step depends on its last copy.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from jinja2 import TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment

from corral.errors import InvalidInput
from corral.patterns.models import Pattern
from corral.workflow.engine import parse_definition
from corral.workflow.models import WORKFLOW_ID
from corral.workflow.templates import is_template
from corral.workflow.validation import ToolState, validate

EACH_VALUES = ("members",)
_LEXER = ImmutableSandboxedEnvironment().lexer
_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.-]+")
_WHOLE_NAME = re.compile(r"^\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\s*$")


def workflow_id(pattern_id: str, target: str) -> str:
    """``pattern.<pattern>.<target>``, the target's characters made safe for a workflow id."""
    safe = _UNSAFE_ID.sub("-", target).strip("-.") or "target"
    candidate = f"pattern.{pattern_id}.{safe}"[:128]
    assert WORKFLOW_ID.match(candidate)
    return candidate


def instantiate(pattern: Pattern, target: str, members: Sequence[str]) -> dict[str, Any]:
    """The workflow document for applying ``pattern`` to ``target`` (covering ``members``).

    Raises:
        InvalidInput: an ``each`` step with nothing to repeat over, or a malformed step.
    """
    known = {"target": target, "members": list(members)}
    each_ids = {
        step.get("id"): _each(step) for step in pattern.workflow.steps if step.get("each") is not None
    }
    copies = {step_id: len(members) for step_id in each_ids}
    steps: list[dict[str, Any]] = []
    for position, template in enumerate(pattern.workflow.steps):
        step = {key: value for key, value in template.items() if key != "each"}
        step_id = step.get("id")
        if not isinstance(step_id, str):
            raise InvalidInput(f"workflow.steps.{position}.id: required")
        step["dependencies"] = [_last_copy(dep, copies) for dep in step.get("dependencies", [])]
        if step_id not in each_ids:
            steps.append(_substituted(step, known))
            continue
        if not members:
            raise InvalidInput(f"workflow.steps.{step_id}.each: the target has no members to repeat over")
        for index, member in enumerate(members):
            repeated = _substituted(step, {**known, "item": member, "index": index})
            repeated["id"] = f"{step_id}_{index + 1}"
            repeated["name"] = f"{template.get('name') or step_id} {member}"
            if index:
                repeated["dependencies"] = [*step["dependencies"], f"{step_id}_{index}"]
            steps.append(repeated)
    return {
        "workflow_id": workflow_id(pattern.id, target),
        "name": f"{pattern.name}: {target}",
        "description": pattern.description,
        "pattern": pattern.id,
        "params": {name: spec.model_dump(mode="json") for name, spec in pattern.params.items()},
        "max_parallel": pattern.workflow.max_parallel,
        "steps": steps,
    }


def check_template(pattern: Pattern, tools: Mapping[str, ToolState] | None = None) -> list[str]:
    """What is wrong with a pattern's workflow template, each as ``key: message``.

    The template is instantiated for a made-up target of two members and judged by the workflow
    engine's own validation; servers are not known when a pattern is loaded, so only the hub's
    actions (``corral__…``, looked up in ``tools``) are checked by name.
    """
    problems = [
        f"workflow.steps.{step.get('id', position)}.each: must be one of {', '.join(EACH_VALUES)}"
        for position, step in enumerate(pattern.workflow.steps)
        if step.get("each") is not None and step.get("each") not in EACH_VALUES
    ]
    problems += [
        f"workflow.steps.{step.get('id', position)}.each: a step cannot have both 'each' and 'for_each'"
        for position, step in enumerate(pattern.workflow.steps)
        if step.get("each") is not None and step.get("for_each") is not None
    ]
    if problems:
        return problems
    try:
        definition = parse_definition(instantiate(pattern, "example", ["example-a", "example-b"]))
    except InvalidInput as exc:
        errors = exc.details.get("errors") or [exc.message]
        return [error if error.startswith("workflow.") else f"workflow.{error}" for error in errors]

    def lookup(server: str, tool: str) -> ToolState:
        if tools is not None and server == "corral":
            return tools.get(tool, "unknown_tool")
        return "ok"

    return [f"workflow.{problem}" for problem in validate(definition, lookup, lambda _: True)]


def _each(step: dict[str, Any]) -> str:
    value = step.get("each")
    return value if isinstance(value, str) else ""


def _last_copy(dependency: Any, copies: Mapping[Any, int]) -> Any:
    count = copies.get(dependency)
    return f"{dependency}_{count}" if count else dependency


def _substituted(step: dict[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """The step with the names in ``values`` written as literals in its args, when and for_each, and
    a ``server`` of exactly ``{{ target }}`` (or ``{{ item }}``) replaced by the name."""
    out = dict(step)
    server = out.get("server")
    whole = _WHOLE_NAME.match(server) if isinstance(server, str) else None
    if whole and isinstance(values.get(whole.group(1)), str):
        out["server"] = values[whole.group(1)]
    if "args" in out:
        out["args"] = _in_value(out["args"], values)
    if "parameters" in out:
        out["parameters"] = _in_value(out["parameters"], values)
    for field in ("when", "for_each"):
        if isinstance(out.get(field), str):
            out[field] = substitute(out[field], values, expression=True)
    return out


def _in_value(value: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _WHOLE_NAME.match(value)
        if whole and whole.group(1) in values and not _holds_template(values[whole.group(1)]):
            return copy.deepcopy(values[whole.group(1)])  # "{{ target }}" becomes the name itself
        return substitute(value, values)
    if isinstance(value, dict):
        return {key: _in_value(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_in_value(item, values) for item in value]
    return value


def substitute(source: str, values: Mapping[str, Any], *, expression: bool = False) -> str:
    """Replace the root names in ``values`` by literals wherever a template uses them.

    A name is a root when it is not an attribute (``x.target``), a filter or test (``| target``,
    ``is target``) or a keyword argument (``target=``). Text that does not lex is returned as it is:
    the engine's validation reports it with its step and field.
    """
    bare = expression and not is_template(source)
    text = f"{{{{ {source} }}}}" if bare else source
    if not is_template(text):
        return source
    try:
        tokens = list(_LEXER.tokeniter(text, None))
    except TemplateSyntaxError:
        return source
    significant = [index for index, token in enumerate(tokens) if token[1] != "whitespace"]
    previous = {index: tokens[significant[n - 1]] for n, index in enumerate(significant) if n}
    following = {index: tokens[significant[n + 1]] for n, index in enumerate(significant[:-1])}
    pieces = []
    for index, (_, kind, value) in enumerate(tokens):
        before, after = previous.get(index), following.get(index)
        root = (
            kind == "name"
            and value in values
            and not (before is not None and (before[2] in (".", "|") or before[1:] == ("name", "is")))
            and not (after is not None and after[2] == "=")
        )
        pieces.append(f"({literal(values[value])})" if root else value)
    out = "".join(pieces)
    return out[3:-3] if bare else out


def _holds_template(value: Any) -> bool:
    return "{{" in json.dumps(value) or "{%" in json.dumps(value)


def literal(value: Any) -> str:
    """``value`` as a Jinja expression that evaluates to it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(item) for item in value) + "]"
    if isinstance(value, dict):
        return (
            "{" + ", ".join(f"{json.dumps(str(key))}: {literal(item)}" for key, item in value.items()) + "}"
        )
    raise TypeError(f"cannot write a {type(value).__name__} as a template literal")
