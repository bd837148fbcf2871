"""The ``corral`` command for node tests: the CLI tests' rig (Typer's CliRunner, the real entry point)."""

from __future__ import annotations

from tests.cli.conftest import cli, corral

__all__ = ["cli", "corral"]
