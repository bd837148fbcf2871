"""``${VAR}`` and ``${VAR:-default}`` expansion in config values."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class MissingVariable(Exception):
    def __init__(self, name: str, path: str) -> None:
        super().__init__(name)
        self.name = name
        self.path = path


def expand(value: Any, environ: Mapping[str, str], path: str = "") -> Any:
    """Expand references in every string inside ``value``.

    Raises:
        MissingVariable: a referenced variable is unset and has no default.
    """
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in environ:
                return environ[name]
            if default is not None:
                return default
            raise MissingVariable(name, path)

        return _REFERENCE.sub(substitute, value)
    if isinstance(value, dict):
        return {
            key: expand(item, environ, f"{path}.{key}" if path else str(key)) for key, item in value.items()
        }
    if isinstance(value, list):
        return [expand(item, environ, f"{path}[{index}]") for index, item in enumerate(value)]
    return value
