"""The expression language of workflow definitions: Jinja2 expressions in a sandbox.

Strings in a step's ``args`` may contain ``{{ expression }}``; a string that is
exactly one expression keeps the expression's type (a list stays a list),
others render to text. ``when`` and ``for_each`` are bare expressions. Names
available: ``params``, ``steps`` (``steps.<id>.result``, ``.text``,
``.status``), ``item`` and ``index`` inside a ``for_each``, ``execution``.
Besides Jinja2's own filters there is ``fromjson``, which parses a JSON text
(``{{ steps.read.text | fromjson }}``).

A definition can never run code on the hub: the environment is Jinja2's
immutable sandbox with no globals, no loader (so no include/import); statement
blocks (``{% %}``), names other than those above and any attribute starting
with ``_`` are refused when the definition is validated and again before each
evaluation, and the sandbox refuses unsafe attributes reached indirectly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, Undefined, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOTS = frozenset({"params", "steps", "item", "index", "execution"})
_WHOLE = re.compile(r"^\s*\{\{(.*)\}\}\s*$", re.DOTALL)
MAX_TEMPLATE_CHARS = 10_000


class TemplateError(Exception):
    """A template that cannot be parsed or evaluated; the message says why."""


MAX_SIZE = 100_000
MAX_EXPONENT = 256


class _BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox, plus limits on ``*`` and ``**`` so a template cannot exhaust memory or CPU."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"exponent {right} is larger than {MAX_EXPONENT}")
        elif _repeats(left, right) or _repeats(right, left):
            raise SecurityError(f"a repetition longer than {MAX_SIZE} items")
        return super().call_binop(context, operator, left, right)


def _repeats(sequence: Any, count: Any) -> bool:
    if not isinstance(sequence, str | list | tuple) or not isinstance(count, int):
        return False
    return len(sequence) * count > MAX_SIZE


MAX_JSON_CHARS = 10_000_000


def _fromjson(text: Any) -> Any:
    """The value a JSON text stands for.

    Raises:
        ValueError: ``text`` is not a string of JSON, or is longer than ``MAX_JSON_CHARS``.
    """
    if not isinstance(text, str | bytes):
        raise ValueError(f"fromjson needs a string, not {type(text).__name__}")
    if len(text) > MAX_JSON_CHARS:
        raise ValueError(f"fromjson: a text longer than {MAX_JSON_CHARS} characters")
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ValueError(f"fromjson: not JSON: {exc}") from None


def _environment() -> ImmutableSandboxedEnvironment:
    env = _BoundedSandbox(undefined=StrictUndefined, autoescape=False)
    env.globals.clear()
    env.filters["fromjson"] = _fromjson
    return env


_ENV = _environment()


@dataclass(frozen=True)
class Uses:
    """What a template refers to: root names, and the step ids under ``steps``."""

    names: frozenset[str]
    steps: frozenset[str]


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value


def check(source: str, *, expression: bool = False) -> Uses:
    """Parse a template (or a bare expression) and say what it refers to.

    Raises:
        TemplateError: a syntax error, a statement block, an unknown name or a private attribute.
    """
    if len(source) > MAX_TEMPLATE_CHARS:
        raise TemplateError(f"longer than {MAX_TEMPLATE_CHARS} characters")
    if "{%" in source:
        raise TemplateError("statement blocks ({% ... %}) are not allowed; use {{ expressions }}")
    text = f"{{{{ {_strip(source)} }}}}" if expression else source
    try:
        tree = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"syntax error: {exc.message}") from exc
    steps: set[str] = set()
    names = {node.name for node in tree.find_all(nodes.Name)}
    for name in sorted(names - ROOTS):
        raise TemplateError(f"unknown name {name!r}; use one of {', '.join(sorted(ROOTS))}")
    for node in _attribute_nodes(tree):
        attribute = node.attr if isinstance(node, nodes.Getattr) else _const(node.arg)
        if isinstance(attribute, str) and attribute.startswith("_"):
            raise TemplateError(f"private attribute {attribute!r} is not allowed")
        if isinstance(node.node, nodes.Name) and node.node.name == "steps" and isinstance(attribute, str):
            steps.add(attribute)
    return Uses(frozenset(names), frozenset(steps))


def evaluate(source: str, context: Mapping[str, Any]) -> Any:
    """Evaluate a bare expression (``when``, ``for_each``); ``{{ }}`` around it is optional.

    Raises:
        TemplateError: it refers to something that does not exist, or the sandbox refused it.
    """
    check(source, expression=True)  # the rules of validation hold whatever stored the definition
    try:
        value = _ENV.compile_expression(_strip(source), undefined_to_none=False)(**context)
        _defined(value)
        return value
    except (
        UndefinedError,
        SecurityError,
        TemplateSyntaxError,
        TypeError,
        ValueError,
        ArithmeticError,
    ) as exc:
        raise TemplateError(str(exc)) from exc


def render(value: Any, context: Mapping[str, Any]) -> Any:
    """Resolve every template inside ``value`` (nested dicts and lists too).

    Raises:
        TemplateError: as ``evaluate``.
    """
    if isinstance(value, str):
        if not is_template(value):
            return value
        whole = _WHOLE.match(value)
        if whole and "}}" not in whole.group(1):
            return evaluate(whole.group(1), context)
        check(value)
        try:
            return _ENV.from_string(value).render(**context)
        except (
            UndefinedError,
            SecurityError,
            TemplateSyntaxError,
            TypeError,
            ValueError,
            ArithmeticError,
        ) as exc:
            raise TemplateError(str(exc)) from exc
    if isinstance(value, dict):
        return {key: render(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, context) for item in value]
    return value


def templates_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(path, template) for every template string inside ``value``."""
    if isinstance(value, str) and is_template(value):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from templates_in(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from templates_in(item, f"{path}[{index}]")


def _defined(value: Any) -> None:
    """Raise the error an undefined value stands for, wherever it sits in ``value``.

    A compiled expression hands back an ``Undefined`` (a missing name or key, or an
    attribute the sandbox refused) instead of raising; left alone it would reach a tool
    call as an argument, or make ``bool()`` of a ``when`` raise outside the engine's care.

    Raises:
        UndefinedError: something referred to does not exist.
        SecurityError: the sandbox refused an attribute.
    """
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    elif isinstance(value, dict):
        for item in value.values():
            _defined(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _defined(item)


def _strip(source: str) -> str:
    whole = _WHOLE.match(source)
    return whole.group(1).strip() if whole else source.strip()


def _attribute_nodes(tree: nodes.Node) -> Iterator[nodes.Getattr | nodes.Getitem]:
    yield from tree.find_all((nodes.Getattr, nodes.Getitem))  # type: ignore[misc]


def _const(node: nodes.Node) -> Any:
    return node.value if isinstance(node, nodes.Const) else None
