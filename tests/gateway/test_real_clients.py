"""Clients nobody here wrote, and the stdio face: `corral mcp` (embedded, bridged), the MCP Inspector CLI."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from mcp import Client, StdioServerParameters

from tests.conformance.tools import Toolchain, toolchain_or_reason
from tests.gateway.clients import text
from tests.support import VENV_BIN, HubProcess, server_entry

pytestmark = pytest.mark.anyio
FLEET = {"mcpServers": {"echo": server_entry("echo"), "slow": server_entry("slow")}}


@asynccontextmanager
async def stdio_client(*args: str, cwd: Path) -> AsyncIterator[Client]:
    params = StdioServerParameters(command=str(VENV_BIN / "corral"), args=["mcp", *args], cwd=str(cwd))
    async with Client(params, mode="legacy") as client:
        yield client


async def exercise(client: Client) -> None:
    names = {tool.name for tool in (await client.list_tools()).tools}
    assert {"echo__echo", "slow__slow", "manage_servers", "get_system_health"} <= names
    assert text(await client.call_tool("echo__echo", {"text": "over stdio"})) == "over stdio"
    steps: list[float] = []

    async def progress(done: float, total: float | None, message: str | None) -> None:
        steps.append(done)

    await client.call_tool("slow__slow", {"steps": 3, "delay": 0.01}, progress_callback=progress)
    assert steps == [1, 2, 3]
    health = await client.call_tool("get_system_health", {})
    assert health.structured_content is not None and health.structured_content["status"] == "ok"


async def test_corral_mcp_runs_an_embedded_hub_on_stdio(tmp_path: Path) -> None:
    (tmp_path / "corral.yaml").write_text(yaml.safe_dump(FLEET))
    async with stdio_client("--config", "corral.yaml", "--data-dir", "data", cwd=tmp_path) as client:
        await exercise(client)


async def test_corral_mcp_bridges_stdio_to_a_running_hub(start_hub: Callable[..., HubProcess]) -> None:
    hub = start_hub(FLEET)
    async with stdio_client("--hub", hub.url, "--data-dir", str(hub.data_dir), cwd=hub.data_dir) as client:
        await exercise(client)


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    found = toolchain_or_reason()
    if isinstance(found, str):
        pytest.skip(f"Node tools unavailable: {found}")
    return found


def inspector(toolchain: Toolchain, *args: str, cwd: Path, command: tuple[str, ...] = ()) -> Any:
    """Run the Inspector CLI; ``command`` is a stdio server to launch (it goes last, after ``--``)."""
    done = subprocess.run(
        [
            str(toolchain.inspector),
            "--cli",
            *args,
            "--format",
            "json",
            "-q",
            *(("--", *command) if command else ()),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**toolchain.env(), "HOME": str(cwd)},
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


@pytest.mark.npm
def test_mcp_inspector_lists_and_calls_tools_through_the_hub_over_http(
    start_hub: Callable[..., HubProcess], toolchain: Toolchain, tmp_path: Path
) -> None:
    hub = start_hub(FLEET)
    auth = ["--header", f"Authorization: Bearer {hub.headers()['Authorization'].split()[1]}"]
    listed = inspector(toolchain, f"{hub.url}/mcp", *auth, "--method", "tools/list", cwd=tmp_path)
    assert "echo__echo" in {tool["name"] for tool in listed["result"]["tools"]}
    called = inspector(
        toolchain, f"{hub.url}/mcp", *auth, "--method", "tools/call", "--tool-name", "echo__add",
        "--tool-args-json", '{"a": 2, "b": 40}', cwd=tmp_path,
    )  # fmt: skip
    assert called["result"]["structuredContent"] == {"result": 42.0}


@pytest.mark.npm
def test_mcp_inspector_lists_and_calls_tools_through_corral_mcp_on_stdio(
    toolchain: Toolchain, tmp_path: Path
) -> None:
    (tmp_path / "corral.yaml").write_text(yaml.safe_dump(FLEET))
    command = (str(VENV_BIN / "corral"), "mcp", "--config", str(tmp_path / "corral.yaml"), "--data-dir",
               str(tmp_path / "data"))  # fmt: skip
    listed = inspector(toolchain, "--method", "tools/list", cwd=tmp_path, command=command)
    assert "slow__sleep" in {tool["name"] for tool in listed["result"]["tools"]}
    call = ("--method", "tools/call", "--tool-name", "echo__echo", "--tool-args-json", '{"text": "hi"}')
    called = inspector(toolchain, *call, cwd=tmp_path, command=command)
    assert called["result"]["content"][0]["text"] == "hi"
    assert os.path.exists(tmp_path / "data" / "corral.db")
