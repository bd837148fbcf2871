"""Real MCP servers that nobody here wrote, supervised over stdio and Streamable HTTP."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from tests.support import EVERYTHING_JS, LOOPBACK_JS, everything_available, free_port, wait_until

pytestmark = pytest.mark.anyio
needs_everything = pytest.mark.skipif(
    not everything_available(), reason="npm package @modelcontextprotocol/server-everything not installed"
)
BIN = Path(sys.executable).parent


def text_of(result: Any) -> str:
    return "".join(getattr(block, "text", "") for block in result.content)


async def test_mcp_server_time_is_supervised_and_answers(fleet_factory: Any) -> None:
    async with fleet_factory() as fleet:
        time_server = fleet.add("time", {"command": str(BIN / "mcp-server-time")})
        await fleet.status("time", "healthy")
        assert {tool.name for tool in time_server.state.tools} >= {"get_current_time", "convert_time"}
        result = await time_server.call_tool("get_current_time", {"timezone": "UTC"})
        assert not result.is_error
        assert "UTC" in text_of(result)


async def test_mcp_server_git_is_supervised_and_answers(fleet_factory: Any, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    await anyio.run_process(["git", "init", "-q", str(repo)])
    async with fleet_factory() as fleet:
        git = fleet.add("git", {"command": str(BIN / "mcp-server-git"), "args": ["--repository", str(repo)]})
        await fleet.status("git", "healthy")
        assert "git_status" in {tool.name for tool in git.state.tools}
        result = await git.call_tool("git_status", {"repo_path": str(repo)})
        assert not result.is_error
        assert "branch" in text_of(result).lower()


@needs_everything
async def test_server_everything_over_stdio_is_supervised_and_answers(fleet_factory: Any) -> None:
    node = shutil.which("node")
    assert node is not None
    async with fleet_factory() as fleet:
        everything = fleet.add("everything", {"command": node, "args": [str(EVERYTHING_JS), "stdio"]})
        await fleet.status("everything", "healthy", within=30)
        assert "echo" in {tool.name for tool in everything.state.tools}
        result = await everything.call_tool("echo", {"message": "through corral"})
        assert "through corral" in text_of(result)


@pytest.fixture
def everything_http() -> Iterator[tuple[str, Any]]:
    """server-everything over Streamable HTTP on a loopback port; yields its URL and a restart function."""
    node = shutil.which("node")
    assert node is not None
    port = free_port()
    processes: list[subprocess.Popen[bytes]] = []

    def start() -> None:
        process = subprocess.Popen(
            [node, "--require", str(LOOPBACK_JS), str(EVERYTHING_JS), "streamableHttp"],
            env={**os.environ, "PORT": str(port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        processes.append(process)

        def listening() -> bool:
            try:
                httpx.get(f"http://127.0.0.1:{port}/mcp", timeout=1)
            except httpx.TransportError:
                return False
            return True

        wait_until(listening, timeout=20)

    start()
    yield f"http://127.0.0.1:{port}/mcp", (start, processes)
    for process in processes:
        process.kill()
        process.wait(5)


@needs_everything
async def test_server_everything_over_http_is_supervised_and_reconnected_after_it_dies(
    fleet_factory: Any, everything_http: tuple[str, Any]
) -> None:
    url, (restart, processes) = everything_http
    async with fleet_factory(restart_initial_s=0.2, restart_max_s=0.5, failure_threshold=1000) as fleet:
        remote = fleet.add("remote", {"type": "http", "url": url})
        await fleet.status("remote", "healthy", within=30)
        assert remote.state.pid is None
        result = await remote.call_tool("echo", {"message": "over http"})
        assert "over http" in text_of(result)

        processes[-1].kill()
        processes[-1].wait(5)
        await fleet.status("remote", "degraded", "disconnected", within=10)
        restart()
        await fleet.status("remote", "healthy", within=30)
        result = await remote.call_tool("echo", {"message": "again"})
        assert "again" in text_of(result)
