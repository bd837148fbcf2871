"""``corral import``: merging an MCP client's servers into Corral's config file."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import yaml
from click.testing import Result

from corral.config.file import load_config
from tests.cli.conftest import Exited

CLAUDE_DESKTOP = {
    "mcpServers": {
        "time": {"command": "uvx", "args": ["mcp-server-time"]},
        "github": {
            "command": "github-mcp-server",
            "args": ["stdio"],
            "env": {"GITHUB_TOKEN": "${GITHUB_TOKEN}"},
        },
    }
}


def test_import_adds_new_servers_skips_present_ones_and_replaces_them_when_asked(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = tmp_path / "claude_desktop_config.json"
    source.write_text(json.dumps(CLAUDE_DESKTOP))
    target = tmp_path / "corral.yaml"
    target.write_text("mcpServers:\n  time: {command: mcp-server-time}\nsettings:\n  failure_threshold: 3\n")

    first = cli("import", str(source), "--into", str(target))
    again = cli("import", str(source), "--into", str(target))
    replaced = cli("import", str(source), "--into", str(target), "--replace")

    assert first.exit_code == again.exit_code == replaced.exit_code == 0
    assert first.stdout.splitlines() == [
        "added     github",
        f"skipped   time (already in {target}; --replace to overwrite)",
        "unchecked github: it refers to environment variables that are not set here",
        f"wrote {target}",
    ]
    assert "skipped   github" in again.stdout
    assert "wrote" not in again.stdout
    assert replaced.stdout.splitlines() == [
        "replaced  time",
        "replaced  github",
        "unchecked github: it refers to environment variables that are not set here",
        f"wrote {target}",
    ]
    written = yaml.safe_load(target.read_text())
    assert written["mcpServers"]["github"]["env"] == {"GITHUB_TOKEN": "${GITHUB_TOKEN}"}
    assert written["settings"] == {"failure_threshold": 3}
    config = load_config(target, environ={"GITHUB_TOKEN": "ghp_x"})
    assert {server.name: server.command for server in config.servers} == {
        "time": "uvx",
        "github": "github-mcp-server",
    }


def test_import_writes_corral_yaml_in_the_working_directory_by_default(
    tmp_path: Path, cli: Callable[..., Result]
) -> None:
    source = tmp_path / "mcp.json"
    source.write_text(json.dumps({"mcpServers": {"docs": {"url": "http://localhost:3000/mcp"}}}))

    result = cli("import", str(source))

    assert result.exit_code == 0
    (server,) = load_config(tmp_path / "corral.yaml", environ={}).servers
    assert (server.name, server.url) == ("docs", "http://localhost:3000/mcp")


def test_importing_a_file_without_mcp_servers_exits_with_code_2_and_says_why(
    tmp_path: Path, corral: Callable[..., Exited]
) -> None:
    source = tmp_path / "settings.json"
    source.write_text(json.dumps({"theme": "dark"}))

    run = corral("import", str(source), "--into", str(tmp_path / "corral.yaml"))

    assert run.code == 2
    assert run.err == f"error: {source}: no 'mcpServers' map found; is this an MCP client's config file?"
    assert not (tmp_path / "corral.yaml").exists()
