"""Minimal arguments from a tool's input schema: required fields only, each as empty as its type allows."""

from __future__ import annotations

from corral.patterns.samples import minimal_arguments


def test_only_required_fields_get_values_of_their_type() -> None:
    schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "count": {"type": "integer"},
            "ratio": {"type": "number"},
            "flag": {"type": "boolean"},
            "items": {"type": "array", "items": {"type": "string"}},
            "options": {"type": "object", "properties": {"mode": {"type": "string"}}, "required": ["mode"]},
            "optional": {"type": "string"},
        },
        "required": ["text", "count", "ratio", "flag", "items", "options"],
    }

    assert minimal_arguments(schema) == {
        "text": "",
        "count": 0,
        "ratio": 0,
        "flag": False,
        "items": [],
        "options": {"mode": ""},
    }


def test_enums_consts_and_bounds_are_respected() -> None:
    schema = {
        "type": "object",
        "properties": {
            "unit": {"enum": ["celsius", "fahrenheit"]},
            "kind": {"const": "probe"},
            "page": {"type": "integer", "minimum": 1},
            "above": {"type": "number", "exclusiveMinimum": 0},
            "below": {"type": "integer", "maximum": -3},
            "code": {"type": "string", "minLength": 2},
            "pair": {"type": "array", "minItems": 2, "items": {"type": "integer"}},
        },
        "required": ["unit", "kind", "page", "above", "below", "code", "pair"],
    }

    assert minimal_arguments(schema) == {
        "unit": "celsius",
        "kind": "probe",
        "page": 1,
        "above": 1,
        "below": -3,
        "code": "aa",
        "pair": [0, 0],
    }


def test_references_and_choices_are_followed() -> None:
    schema = {
        "type": "object",
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "number"}}, "required": ["x"]}},
        "properties": {
            "at": {"$ref": "#/$defs/Point"},
            "name": {"anyOf": [{"type": "null"}, {"type": "string"}]},
            "size": {"type": ["null", "integer"]},
            "both": {
                "allOf": [
                    {"$ref": "#/$defs/Point"},
                    {"properties": {"y": {"type": "string"}}, "required": ["y"]},
                ]
            },
        },
        "required": ["at", "name", "size", "both"],
    }

    assert minimal_arguments(schema) == {"at": {"x": 0}, "name": "", "size": 0, "both": {"x": 0, "y": ""}}


def test_no_schema_or_no_required_fields_means_no_arguments() -> None:
    assert minimal_arguments(None) == {}
    assert minimal_arguments({"type": "object", "properties": {"a": {"type": "string"}}}) == {}
    assert minimal_arguments({"type": "object", "required": ["a"]}) == {"a": None}
    assert minimal_arguments(
        {"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}, "required": ["a"]}
    ) == {"a": None}
