"""Client commands start without the hub's stack: only ``serve``, ``mcp`` and ``db upgrade`` load it."""

from __future__ import annotations

import subprocess
import sys

HUB_STACK = ("corral.app", "fastapi", "mcp", "mcp_types", "sqlalchemy", "alembic", "prometheus_client")


def test_the_cli_module_loads_none_of_the_hub_stack() -> None:
    probe = "import sys, corral.cli.main; print(' '.join(sorted(set(sys.argv[1:]) & set(sys.modules))))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe, *HUB_STACK], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert loaded == []
