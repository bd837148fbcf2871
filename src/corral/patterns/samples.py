"""The smallest arguments a tool's ``inputSchema`` accepts, for probing a tool without knowing it.

Only required properties are filled, each with a value of its type that is as
empty as the schema allows: ``""``, ``0``, ``false``, ``[]``, ``{}`` (with its own
required properties), the first ``enum`` value or the ``const``. Bounds
(``minimum``, ``minLength``, ``minItems``) are respected, local ``$ref`` s are
followed and the first choice of an ``anyOf``/``oneOf`` is taken. Pure.
"""

from __future__ import annotations

from typing import Any

MAX_DEPTH = 8


def minimal_arguments(schema: dict[str, Any] | None) -> dict[str, Any]:
    """Arguments for a tool with this input schema (an object's required fields only)."""
    if not schema:
        return {}
    value = _minimal(schema, schema, 0)
    return value if isinstance(value, dict) else {}


def _minimal(schema: Any, root: dict[str, Any], depth: int) -> Any:
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _minimal(_resolve(schema["$ref"], root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for choice in ("anyOf", "oneOf"):
        options = schema.get(choice)
        if isinstance(options, list) and options:
            preferred = [option for option in options if not _is_null(option)] or options
            return _minimal({**_without(schema, choice), **preferred[0]}, root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged = _without(schema, "allOf")
        for part in schema["allOf"]:
            merged = _merge(merged, _resolve(part["$ref"], root) if "$ref" in part else part)
        return _minimal(merged, root, depth + 1)
    kind = _type(schema)
    if kind == "object":
        properties = schema.get("properties") or {}
        required = schema.get("required") or []
        return {name: _minimal(properties.get(name, {}), root, depth + 1) for name in required}
    if kind == "array":
        count = int(schema.get("minItems", 0))
        items = schema.get("items")
        return [_minimal(items, root, depth + 1) for _ in range(count)] if count else []
    if kind == "string":
        return "a" * int(schema.get("minLength", 0))
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind == "boolean":
        return False
    return None


def _type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [item for item in kind if item != "null"]
        return kinds[0] if kinds else None
    if isinstance(kind, str):
        return kind
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _number(schema: dict[str, Any], kind: str) -> int | float:
    value: float = 0
    if isinstance(schema.get("minimum"), int | float):
        value = max(value, schema["minimum"])
    if isinstance(schema.get("exclusiveMinimum"), int | float) and value <= schema["exclusiveMinimum"]:
        value = schema["exclusiveMinimum"] + 1
    if isinstance(schema.get("maximum"), int | float) and value > schema["maximum"]:
        value = schema["maximum"]
    return int(value) if kind == "integer" else value


def _is_null(schema: Any) -> bool:
    return isinstance(schema, dict) and schema.get("type") == "null"


def _without(schema: dict[str, Any], key: str) -> dict[str, Any]:
    return {name: value for name, value in schema.items() if name != key}


def _merge(left: dict[str, Any], right: dict[str, Any]) -> dict[str, Any]:
    merged = {**left, **right}
    if "properties" in left or "properties" in right:
        merged["properties"] = {**left.get("properties", {}), **right.get("properties", {})}
    if "required" in left or "required" in right:
        merged["required"] = [*left.get("required", []), *right.get("required", [])]
    return merged


def _resolve(reference: Any, root: dict[str, Any]) -> Any:
    """A local JSON pointer (``#/$defs/Name``); anything else resolves to nothing."""
    if not isinstance(reference, str) or not reference.startswith("#"):
        return None
    node: Any = root
    for part in reference.lstrip("#").strip("/").split("/"):
        if not part:
            continue
        key = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node
