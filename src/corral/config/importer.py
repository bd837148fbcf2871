"""``corral import``: bring the ``mcpServers`` of an MCP client's config into Corral's config file.

Entries are copied as written (``${VAR}`` references stay references). Names
already present are kept unless replacing is asked for. The target file is
rewritten as YAML, so comments in it are not preserved.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from corral.config.file import _first_problem, read_document
from corral.errors import ConfigError
from corral.registry.models import ServerSpec


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def client_servers(source: Path) -> dict[str, dict[str, Any]]:
    """The ``mcpServers`` map of a Claude Desktop / Claude Code / Cursor config.

    Raises:
        ConfigError: the file has no ``mcpServers`` or an entry is not a valid server.
    """
    document = read_document(source)
    servers = document.get("mcpServers")
    if not isinstance(servers, dict) or not servers:
        raise ConfigError(f"{source}: no 'mcpServers' map found; is this an MCP client's config file?")
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            raise ConfigError(f"{source}: mcpServers.{name}: must be a mapping")
        try:
            # Validate the shape with references left in place: values are not expanded here.
            ServerSpec.from_client_entry(str(name), entry)
        except ValidationError as exc:
            raise ConfigError(f"{source}: {_first_problem(exc, f'mcpServers.{name}')}") from exc
        except ValueError as exc:
            raise ConfigError(f"{source}: mcpServers.{name}: {exc}") from exc
    return servers


def import_servers(source: Path, target: Path, *, replace: bool = False) -> ImportReport:
    """Merge ``source``'s servers into ``target`` (created when missing). Raises: ConfigError."""
    incoming = client_servers(source)
    document = read_document(target) if target.exists() else {}
    existing = document.setdefault("mcpServers", {}) or {}
    document["mcpServers"] = existing
    report = ImportReport()
    for name, entry in incoming.items():
        if name in existing and not replace:
            report.skipped.append(name)
            continue
        (report.replaced if name in existing else report.added).append(name)
        existing[name] = entry
    if report.added or report.replaced:
        target.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return report
