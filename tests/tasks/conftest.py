"""Agents for the task tests: real worker servers over stdio, each writing what it ran to one file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support import server_entry


def worker_entry(
    name: str,
    record: Path,
    *,
    capability: str = "build",
    max_concurrent: int = 2,
    env: dict[str, str] | None = None,
    **agent: Any,
) -> dict[str, Any]:
    entry = server_entry("worker", WORKER_NAME=name, WORKER_FILE=str(record), **(env or {}))
    entry["agent"] = {"capabilities": [capability], "max_concurrent": max_concurrent, **agent}
    return entry


def notes(record: Path) -> list[dict[str, Any]]:
    """What the workers wrote down, in order."""
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text().splitlines() if line.strip()]
