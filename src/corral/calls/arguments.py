"""Checking tool arguments against the tool's ``inputSchema`` before the call leaves the hub.

A wrong argument becomes a tool error that names the field, which a model can
correct, instead of whatever the upstream makes of it. Validators are compiled
once per schema.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import mcp_types as types
from jsonschema import exceptions, validators

MAX_CACHED = 4096


class ArgumentChecker:
    def __init__(self) -> None:
        self._validators: dict[str, Any] = {}
        # The same schema object comes back on every call of a tool: knowing it by identity spares
        # the hot path serialising and hashing it. The entry holds the schema, so its id stays its own.
        self._by_identity: dict[int, tuple[dict[str, Any], Any]] = {}

    def check(self, tool: types.Tool, arguments: dict[str, Any]) -> str | None:
        """None when the arguments fit the schema, else what is wrong and where."""
        schema = tool.input_schema
        if not schema:
            return None
        validator = self._validator(schema)
        if validator is None:
            return None
        error = exceptions.best_match(validator.iter_errors(arguments))
        if error is None:
            return None
        where = ".".join(str(part) for part in error.absolute_path) or "(arguments)"
        return f"{where}: {error.message}"

    def _validator(self, schema: dict[str, Any]) -> Any:
        known = self._by_identity.get(id(schema))
        if known is not None and known[0] is schema:
            return known[1]
        if len(self._by_identity) >= MAX_CACHED:
            self._by_identity.clear()
        validator = self._by_content(schema)
        self._by_identity[id(schema)] = (schema, validator)
        return validator

    def _by_content(self, schema: dict[str, Any]) -> Any:
        key = hashlib.sha256(json.dumps(schema, sort_keys=True, default=str).encode()).hexdigest()
        if key not in self._validators:
            if len(self._validators) >= MAX_CACHED:
                self._validators.clear()
            cls = validators.validator_for(schema, default=validators.Draft202012Validator)
            try:
                cls.check_schema(schema)
            except exceptions.SchemaError:
                # An upstream with a broken schema still gets its calls; it judges them itself.
                self._validators[key] = None
            else:
                self._validators[key] = cls(schema)
        return self._validators[key]
