"""The config file: ``mcpServers`` as MCP clients write it, Corral's keys, expansion and errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from corral.config.file import load_config
from corral.errors import ConfigError
from corral.registry.models import Canary, Transport


def write(tmp_path: Path, text: str, name: str = "corral.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_claude_desktop_entry_loads_as_a_stdio_server_with_command_args_and_env(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        json.dumps(
            {
                "mcpServers": {
                    "filesystem": {
                        "command": "npx",
                        "args": ["-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop"],
                        "env": {"DEBUG": "1"},
                    }
                }
            }
        ),
        "claude_desktop_config.json",
    )

    (server,) = load_config(path, environ={}).servers

    assert server.name == "filesystem"
    assert server.transport is Transport.STDIO
    assert server.command == "npx"
    assert server.args == ("-y", "@modelcontextprotocol/server-filesystem", "/Users/me/Desktop")
    assert server.env == {"DEBUG": "1"}
    assert server.enabled


def test_claude_code_stdio_and_http_entries_load_with_their_type_url_and_headers(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        json.dumps(
            {
                "mcpServers": {
                    "local": {"type": "stdio", "command": "uvx", "args": ["mcp-server-time"], "env": {}},
                    "remote": {
                        "type": "http",
                        "url": "https://mcp.example.com/mcp",
                        "headers": {"Authorization": "Bearer abc"},
                    },
                }
            }
        ),
        ".mcp.json",
    )

    servers = {server.name: server for server in load_config(path, environ={}).servers}

    assert servers["local"].transport is Transport.STDIO
    assert (servers["local"].command, servers["local"].args) == ("uvx", ("mcp-server-time",))
    assert servers["remote"].transport is Transport.HTTP
    assert servers["remote"].url == "https://mcp.example.com/mcp"
    assert servers["remote"].headers == {"Authorization": "Bearer abc"}
    assert servers["remote"].command is None


def test_cursor_entry_with_only_a_url_loads_as_an_http_server(tmp_path: Path) -> None:
    path = write(tmp_path, '{"mcpServers": {"docs": {"url": "http://localhost:3000/mcp"}}}', "mcp.json")

    (server,) = load_config(path, environ={}).servers

    assert server.transport is Transport.HTTP
    assert server.url == "http://localhost:3000/mcp"


def test_a_disabled_flag_as_clients_write_it_loads_as_not_enabled(tmp_path: Path) -> None:
    path = write(tmp_path, "mcpServers:\n  paused: {command: x, disabled: true}\n  active: {command: y}\n")

    enabled = {server.name: server.enabled for server in load_config(path, environ={}).servers}

    assert enabled == {"paused": False, "active": True}


def test_corral_keys_load_beside_the_client_shape(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
mcpServers:
  time:
    command: uvx
    args: [mcp-server-time]
    tags: [utility, clock]
    capabilities: [time]
    max_concurrent: 4
    call_timeout_s: 12.5
    lazy: true
    idle_stop_s: 300
    canary: {tool: get_current_time, arguments: {timezone: UTC}}
    watch_tools: true
settings:
  failure_threshold: 3
hub:
  port: 9000
""",
    )

    config = load_config(path, environ={})
    (server,) = config.servers

    assert server.tags == ("utility", "clock")
    assert server.capabilities == ("time",)
    assert server.max_concurrent == 4
    assert server.call_timeout_s == 12.5
    assert server.lazy is True
    assert server.idle_stop_s == 300
    assert server.canary == Canary(tool="get_current_time", arguments={"timezone": "UTC"})
    assert server.watch_tools is True
    assert config.settings == {"failure_threshold": 3}
    assert config.hub == {"port": 9000}
    assert config.path == path


def test_an_empty_file_has_no_servers(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""), environ={})

    assert (config.servers, config.settings, config.hub) == ((), {}, {})


def test_variables_expand_from_the_given_environment_and_defaults_fill_the_unset_ones(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
mcpServers:
  github:
    command: ${TOOLS}/github-mcp
    args: ["--org", "${ORG:-acme}", "--team", "${TEAM:-core}"]
    env: {GITHUB_TOKEN: "${GITHUB_TOKEN}"}
  api:
    url: "${API_URL:-https://api.example.com}/mcp"
    headers: {Authorization: "Bearer ${API_TOKEN}"}
""",
    )

    servers = {
        server.name: server
        for server in load_config(
            path,
            environ={"TOOLS": "/opt/tools", "TEAM": "infra", "GITHUB_TOKEN": "ghp_1", "API_TOKEN": "t0k"},
        ).servers
    }

    assert servers["github"].command == "/opt/tools/github-mcp"
    assert servers["github"].args == ("--org", "acme", "--team", "infra")
    assert servers["github"].env == {"GITHUB_TOKEN": "ghp_1"}
    assert servers["api"].url == "https://api.example.com/mcp"
    assert servers["api"].headers == {"Authorization": "Bearer t0k"}


def test_a_missing_file_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"

    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})

    assert str(path) in raised.value.message
    assert "cannot read" in raised.value.message


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        pytest.param(
            "mcpServers:\n  a: [1,\n  b: 2\n", "(line 4, column 1)", "not valid YAML", id="yaml-syntax"
        ),
        pytest.param("servers: {}\n", "'servers'", "unknown top-level key", id="unknown-top-level-key"),
        pytest.param("- a\n", "top level", "must be a mapping", id="top-level-list"),
        pytest.param("mcpServers: [a]\n", "mcpServers", "must be a mapping", id="servers-not-a-mapping"),
        pytest.param(
            "mcpServers:\n  a: {args: [x]}\n",
            "mcpServers.a",
            "a stdio server needs 'command'",
            id="no-command",
        ),
        pytest.param(
            "mcpServers:\n  a: {type: http}\n", "mcpServers.a", "an http server needs 'url'", id="http-no-url"
        ),
        pytest.param(
            "mcpServers:\n  a: {url: 'ftp://host/mcp'}\n",
            "mcpServers.a",
            "'url' must start with http:// or https://",
            id="bad-url-scheme",
        ),
        pytest.param(
            "mcpServers:\n  'my server': {command: x}\n",
            "mcpServers.my server",
            "server name 'my server' must be",
            id="bad-name",
        ),
        pytest.param(
            "mcpServers:\n  a__b: {command: x}\n",
            "mcpServers.a__b",
            "not contain '__'",
            id="double-underscore",
        ),
        pytest.param(
            "mcpServers:\n  a: {type: sse, url: 'http://h/sse'}\n",
            "mcpServers.a",
            "legacy SSE transport is not supported",
            id="sse",
        ),
        pytest.param(
            "mcpServers:\n  a: {type: websocket, url: 'http://h'}\n",
            "mcpServers.a",
            "unknown 'type' 'websocket'",
            id="unknown-type",
        ),
        pytest.param(
            "mcpServers:\n  a: {command: x, env: {TOKEN: '${NOT_SET}'}}\n",
            "mcpServers.a.env.TOKEN",
            "environment variable ${NOT_SET} is not set",
            id="missing-env-var",
        ),
        pytest.param(
            "mcpServers:\n  a: {command: x, max_concurrent: 0}\n",
            "mcpServers.a.max_concurrent",
            "greater than or equal to 1",
            id="bad-server-value",
        ),
        pytest.param(
            "mcpServers:\n  a: {command: x, restart: always}\n",
            "mcpServers.a.restart",
            "unknown field 'restart'",
            id="unknown-server-key",
        ),
        pytest.param(
            "settings:\n  failure_threshold: 0\n",
            "settings.failure_threshold",
            "greater than or equal to 1",
            id="bad-settings-value",
        ),
        pytest.param(
            "settings:\n  ping_interval_s: soon\n",
            "settings.ping_interval_s",
            "valid number",
            id="settings-value-of-wrong-type",
        ),
        pytest.param("settings:\n  nope: 1\n", "settings.nope", "unknown field 'nope'", id="unknown-setting"),
        pytest.param(
            "mcpServers:\n  a: npx my-server\n", "mcpServers.a", "must be a mapping", id="non-mapping"
        ),
        pytest.param("hub: 8600\n", "hub", "must be a mapping", id="hub-not-a-mapping"),
    ],
)
def test_config_error_names_file_key_and_problem(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})

    message = raised.value.message
    assert message.startswith(f"{path}")
    assert key in message
    assert problem in message


def test_a_server_name_yaml_reads_as_a_boolean_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "corral.yaml"
    path.write_text("mcpServers:\n  on:\n    command: uvx\n")

    with pytest.raises(
        ConfigError, match=r"corral.yaml: mcpServers: the server name True is not a string.*quotes"
    ):
        load_config(path, environ={})


def test_the_name_corral_is_reserved_for_the_hubs_own_actions(tmp_path: Path) -> None:
    path = tmp_path / "corral.yaml"
    path.write_text("mcpServers:\n  corral:\n    command: uvx\n")

    with pytest.raises(ConfigError, match=r"mcpServers.corral.*reserved"):
        load_config(path, environ={})
