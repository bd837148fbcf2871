"""Importing an MCP client's ``mcpServers`` into Corral's config file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from corral.config.file import load_config
from corral.config.importer import import_servers
from corral.errors import ConfigError

CLAUDE_DESKTOP = {
    "mcpServers": {
        "filesystem": {
            "command": "npx",
            "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"],
        },
        "github": {
            "command": "docker",
            "args": [
                "run",
                "-i",
                "--rm",
                "-e",
                "GITHUB_PERSONAL_ACCESS_TOKEN",
                "ghcr.io/github/github-mcp-server",
            ],
            "env": {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"},
        },
    },
    "globalShortcut": "Ctrl+Space",
}


def write_json(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_import_into_a_new_file_copies_every_server_as_written(tmp_path: Path) -> None:
    source = write_json(tmp_path / "claude_desktop_config.json", CLAUDE_DESKTOP)
    target = tmp_path / "corral.yaml"

    report = import_servers(source, target)

    assert (report.added, report.replaced, report.skipped) == (["filesystem", "github"], [], [])
    assert yaml.safe_load(target.read_text()) == {"mcpServers": CLAUDE_DESKTOP["mcpServers"]}


def test_variable_references_are_kept_literally_and_expand_when_the_config_loads(tmp_path: Path) -> None:
    source = write_json(tmp_path / "claude_desktop_config.json", CLAUDE_DESKTOP)
    target = tmp_path / "corral.yaml"

    import_servers(source, target)

    written = yaml.safe_load(target.read_text())["mcpServers"]["github"]["env"]
    assert written == {"GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"}
    servers = {
        server.name: server for server in load_config(target, environ={"GITHUB_TOKEN": "ghp_x"}).servers
    }
    assert servers["github"].env == {"GITHUB_PERSONAL_ACCESS_TOKEN": "ghp_x"}
    assert servers["filesystem"].command == "npx"


def test_import_into_an_existing_file_keeps_its_servers_and_sections(tmp_path: Path) -> None:
    source = write_json(tmp_path / "claude_desktop_config.json", CLAUDE_DESKTOP)
    target = tmp_path / "corral.yaml"
    target.write_text(
        "mcpServers:\n  time: {command: uvx, args: [mcp-server-time]}\nsettings:\n  cooldown_s: 5\n"
    )

    report = import_servers(source, target)

    assert report.added == ["filesystem", "github"]
    config = load_config(target, environ={"GITHUB_TOKEN": "x"})
    assert [server.name for server in config.servers] == ["time", "filesystem", "github"]
    assert config.settings == {"cooldown_s": 5}


def test_servers_already_present_are_skipped_and_left_unchanged(tmp_path: Path) -> None:
    source = write_json(tmp_path / "claude_desktop_config.json", CLAUDE_DESKTOP)
    target = tmp_path / "corral.yaml"
    target.write_text("mcpServers:\n  github: {command: github-mcp-server, args: [stdio]}\n")

    report = import_servers(source, target)

    assert (report.added, report.replaced, report.skipped) == (["filesystem"], [], ["github"])
    assert yaml.safe_load(target.read_text())["mcpServers"]["github"] == {
        "command": "github-mcp-server",
        "args": ["stdio"],
    }


def test_replace_overwrites_servers_already_present(tmp_path: Path) -> None:
    source = write_json(tmp_path / "claude_desktop_config.json", CLAUDE_DESKTOP)
    target = tmp_path / "corral.yaml"
    target.write_text("mcpServers:\n  github: {command: github-mcp-server, args: [stdio]}\n")

    report = import_servers(source, target, replace=True)

    assert (report.added, report.replaced, report.skipped) == (["filesystem"], ["github"], [])
    assert yaml.safe_load(target.read_text())["mcpServers"]["github"]["command"] == "docker"


def test_nothing_is_written_when_every_server_is_already_present(tmp_path: Path) -> None:
    source = write_json(tmp_path / ".mcp.json", {"mcpServers": {"time": {"type": "stdio", "command": "uvx"}}})
    target = tmp_path / "corral.yaml"
    target.write_text("# my servers\nmcpServers:\n  time: {command: uvx}\n")

    report = import_servers(source, target)

    assert report.skipped == ["time"]
    assert target.read_text() == "# my servers\nmcpServers:\n  time: {command: uvx}\n"


def test_claude_code_and_cursor_entries_import_and_load(tmp_path: Path) -> None:
    source = write_json(
        tmp_path / ".mcp.json",
        {
            "mcpServers": {
                "remote": {
                    "type": "http",
                    "url": "https://mcp.example.com/mcp",
                    "headers": {"X-Key": "${KEY}"},
                },
                "cursor-docs": {"url": "http://localhost:3000/mcp"},
            }
        },
    )
    target = tmp_path / "corral.yaml"

    import_servers(source, target)

    servers = {server.name: server for server in load_config(target, environ={"KEY": "k"}).servers}
    assert servers["remote"].headers == {"X-Key": "k"}
    assert servers["cursor-docs"].url == "http://localhost:3000/mcp"


@pytest.mark.parametrize(
    "document",
    [{"globalShortcut": "Ctrl+Space"}, {"mcpServers": {}}, {"mcpServers": ["time"]}],
    ids=["no-key", "empty", "not-a-mapping"],
)
def test_a_file_without_mcp_servers_is_a_clear_error(tmp_path: Path, document: dict[str, Any]) -> None:
    source = write_json(tmp_path / "settings.json", document)
    target = tmp_path / "corral.yaml"

    with pytest.raises(ConfigError) as raised:
        import_servers(source, target)

    assert raised.value.message.startswith(str(source))
    assert "no 'mcpServers' map found" in raised.value.message
    assert not target.exists()


@pytest.mark.parametrize(
    ("entry", "key", "problem"),
    [
        ({"args": ["x"]}, "mcpServers.bad", "a stdio server needs 'command'"),
        (
            {"command": "x", "max_concurrent": 0},
            "mcpServers.bad.max_concurrent",
            "greater than or equal to 1",
        ),
        ({"type": "sse", "url": "http://h/sse"}, "mcpServers.bad", "legacy SSE transport is not supported"),
        ("npx server", "mcpServers.bad", "must be a mapping"),
    ],
    ids=["no-command", "bad-value", "sse", "not-a-mapping"],
)
def test_an_invalid_entry_names_the_file_the_server_and_the_problem(
    tmp_path: Path, entry: Any, key: str, problem: str
) -> None:
    source = write_json(tmp_path / "claude_desktop_config.json", {"mcpServers": {"bad": entry}})

    with pytest.raises(ConfigError) as raised:
        import_servers(source, tmp_path / "corral.yaml")

    assert raised.value.message.startswith(f"{source}: {key}: ")
    assert problem in raised.value.message


def test_entries_are_checked_with_their_references_expanded(tmp_path: Path) -> None:
    source = tmp_path / ".mcp.json"
    source.write_text(json.dumps({"mcpServers": {"remote": {"type": "http", "url": "${BASE_URL}/mcp"}}}))
    target = tmp_path / "corral.yaml"

    report = import_servers(source, target, environ={"BASE_URL": "https://tools.example.com"})

    assert report.added == ["remote"] and report.unchecked == []
    assert yaml.safe_load(target.read_text())["mcpServers"]["remote"]["url"] == "${BASE_URL}/mcp"


def test_an_entry_with_an_unset_reference_is_imported_unchecked(tmp_path: Path) -> None:
    source = tmp_path / ".mcp.json"
    source.write_text(json.dumps({"mcpServers": {"remote": {"type": "http", "url": "${BASE_URL}/mcp"}}}))

    report = import_servers(source, tmp_path / "corral.yaml", environ={})

    assert report.added == ["remote"]
    assert report.unchecked == ["remote"]


def test_an_entry_that_is_wrong_once_expanded_is_refused(tmp_path: Path) -> None:
    source = tmp_path / ".mcp.json"
    source.write_text(json.dumps({"mcpServers": {"remote": {"type": "http", "url": "${BASE_URL}/mcp"}}}))

    with pytest.raises(ConfigError, match=r"mcpServers.remote.*must start with http"):
        import_servers(source, tmp_path / "corral.yaml", environ={"BASE_URL": "ftp://nope"})
