"""``corral serve``: refusing unsafe or broken set-ups before listening; no-auth on loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from tests.cli.conftest import Exited
from tests.support import HubProcess, free_port, server_entry, wait_until


def test_no_auth_on_a_non_loopback_address_is_refused(
    tmp_path: Path, corral_process: Callable[..., Exited]
) -> None:
    run = corral_process(
        "serve",
        "--no-auth",
        "--host",
        "0.0.0.0",
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path / "d"),
    )

    assert run.code == 2
    assert run.err.startswith("error: --no-auth is refused")
    assert "0.0.0.0, which is not a loopback address" in run.err


def test_no_auth_on_loopback_answers_without_a_token_and_logs_that_authentication_is_off(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub({"mcpServers": {}}, "--no-auth")

    response = httpx.get(f"{hub.url}/api/v1/servers")

    assert (response.status_code, response.json()) == (200, {"items": [], "next_cursor": None})
    assert "AUTHENTICATION IS OFF" in hub.log()
    assert not (hub.data_dir / "admin.token").exists()


def test_a_bad_hub_setting_in_the_config_stops_serve_naming_file_key_and_problem(
    tmp_path: Path, corral: Callable[..., Exited]
) -> None:
    config = tmp_path / "corral.yaml"
    config.write_text("hub:\n  port: 70000\n")

    run = corral("serve", "--config", str(config), "--data-dir", str(tmp_path / "d"))

    assert run.code == 2
    assert run.err.startswith(f"error: {config}: hub.port: ")
    assert "less than or equal to 65535" in run.err


def test_a_bad_server_entry_stops_serve_naming_file_key_and_problem(
    tmp_path: Path, corral: Callable[..., Exited]
) -> None:
    config = tmp_path / "corral.yaml"
    config.write_text("mcpServers:\n  legacy: {type: sse, url: 'http://127.0.0.1:9/sse'}\n")

    run = corral("serve", "--config", str(config), "--data-dir", str(tmp_path / "d"))

    assert run.code == 2
    assert run.err.startswith(
        f"error: {config}: mcpServers.legacy: the legacy SSE transport is not supported"
    )
    assert not (tmp_path / "d").exists()


def test_serve_ends_its_start_up_with_the_address_and_the_next_step(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo")}})

    lines = wait_until(
        lambda: [line for line in hub.log().splitlines() if "corral.cli.running: next:" in line]
    )
    log = hub.log().splitlines()
    ready = next(index for index, line in enumerate(log) if f"ready at {hub.url}" in line)

    assert "1 of 1 server(s) serving" in log[ready]
    assert log[ready + 1] == lines[0]
    assert f"servers list --hub {hub.url} --data-dir {hub.data_dir}`" in lines[0]
    assert f"MCP clients connect to {hub.url}/mcp (token in {hub.data_dir / 'admin.token'})" in lines[0]
    # The servers' start is told before it: those are the last lines a person reads.
    assert any("echo: starting → healthy" in line for line in log[:ready])
