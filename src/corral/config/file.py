"""The config file: ``mcpServers`` as MCP clients write it, plus Corral's own keys.

A config file is YAML (JSON is valid YAML, so ``.json`` and ``.mcp.json`` files
load too). Top-level keys:

- ``mcpServers``: name → server entry (see ``registry.models.ServerSpec``);
- ``settings``: initial values of the runtime settings;
- ``hub``: values of the hub's own settings (host, port, data_dir, ...).

Every error names the file, the key and what is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from corral import strict
from corral.config.expand import MissingVariable, expand
from corral.errors import ConfigError
from corral.registry.models import ServerSpec
from corral.settings.models import RuntimeSettings

KNOWN_KEYS = ("mcpServers", "settings", "hub")


@dataclass(frozen=True)
class ConfigFile:
    path: Path | None
    servers: tuple[ServerSpec, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)
    hub: dict[str, Any] = field(default_factory=dict)


def read_document(path: Path) -> dict[str, Any]:
    """Parse a YAML/JSON file into a mapping, without expanding anything.

    Raises:
        ConfigError: the file is missing, unreadable or not a mapping.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}{where}: not valid YAML or JSON: {problem}") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: the top level must be a mapping, got {type(document).__name__}")
    return document


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> ConfigFile:
    """Read, expand and validate a config file.

    Raises:
        ConfigError: naming the file, the key and the problem.
    """
    document = read_document(path)
    unknown = sorted(set(document) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(
            f"{path}: unknown top-level key {unknown[0]!r}; expected one of {', '.join(KNOWN_KEYS)}"
        )
    try:
        document = expand(document, os.environ if environ is None else environ)
    except MissingVariable as exc:
        raise ConfigError(f"{path}: {exc.path}: environment variable ${{{exc.name}}} is not set") from exc

    entries = document.get("mcpServers") or {}
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: mcpServers: must be a mapping of server name to server entry")
    servers = [parse_server_entry(path, name, entry) for name, entry in entries.items()]

    settings = _section(path, document, "settings")
    try:
        RuntimeSettings.model_validate(settings)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_problem(exc, 'settings')}") from exc
    return ConfigFile(
        path=path, servers=tuple(servers), settings=settings, hub=_section(path, document, "hub")
    )


def parse_server_entry(path: Path, name: object, entry: object) -> ServerSpec:
    """One ``mcpServers`` entry, already expanded.

    Raises:
        ConfigError: naming the file, the key and the problem.
    """
    if not isinstance(name, str):
        raise ConfigError(
            f"{path}: mcpServers: the server name {name!r} is not a string "
            "(YAML reads on/off/yes/no/true/false as booleans); put it in quotes"
        )
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: mcpServers.{name}: must be a mapping")
    try:
        return ServerSpec.from_client_entry(name, entry)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_first_problem(exc, f'mcpServers.{name}')}") from exc
    except ValueError as exc:
        raise ConfigError(f"{path}: mcpServers.{name}: {exc}") from exc


def _section(path: Path, document: dict[str, Any], key: str) -> dict[str, Any]:
    value = document.get(key) or {}
    if not isinstance(value, dict):
        raise ConfigError(f"{path}: {key}: must be a mapping")
    return value


def _first_problem(exc: ValidationError, prefix: str) -> str:
    """'prefix.key: message' for the first error pydantic found (others follow in count)."""
    found = strict.problems(exc.errors())
    first = found[0]
    location = first.location if first.location != ("name",) else ()
    more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
    return f"{strict.FieldProblem((prefix, *location), first.message, first.type)}{more}"
