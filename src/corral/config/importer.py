"""``corral import``: bring the ``mcpServers`` of an MCP client's config into Corral's config file.

Entries are copied as written (``${VAR}`` references stay references). Names
already present are kept unless replacing is asked for. The target file is
rewritten as YAML, so comments in it are not preserved.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from corral.config.expand import MissingVariable, expand
from corral.config.file import parse_server_entry, read_document
from corral.errors import ConfigError


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    unchecked: list[str] = field(default_factory=list)


def client_servers(source: Path) -> dict[str, dict[str, Any]]:
    """The ``mcpServers`` map of a Claude Desktop / Claude Code / Cursor config.

    Raises:
        ConfigError: the file has no ``mcpServers``.
    """
    document = read_document(source)
    servers = document.get("mcpServers")
    if not isinstance(servers, dict) or not servers:
        raise ConfigError(f"{source}: no 'mcpServers' map found; is this an MCP client's config file?")
    return servers


def import_servers(
    source: Path, target: Path, *, replace: bool = False, environ: Mapping[str, str] | None = None
) -> ImportReport:
    """Merge ``source``'s servers into ``target`` (created when missing).

    Each entry is checked as the hub will read it, with ``${VAR}`` references expanded from
    ``environ``; an entry that refers to an unset variable is imported unchecked and reported.

    Raises:
        ConfigError: the source has no servers, or an entry is not a valid server.
    """
    incoming = client_servers(source)
    report = ImportReport()
    for name, entry in incoming.items():
        try:
            expanded = expand(entry, os.environ if environ is None else environ, f"mcpServers.{name}")
        except MissingVariable:
            report.unchecked.append(str(name))
            continue
        parse_server_entry(source, name, expanded)
    document = read_document(target) if target.exists() else {}
    existing = document.setdefault("mcpServers", {}) or {}
    document["mcpServers"] = existing
    for name, entry in incoming.items():
        if name in existing and not replace:
            report.skipped.append(name)
            continue
        (report.replaced if name in existing else report.added).append(name)
        existing[name] = entry
    if report.added or report.replaced:
        target.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return report
