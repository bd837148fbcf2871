"""Lazy start, idle stop, the concurrency cap, enable/disable, and no leaked processes on shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Callable
from typing import Any

import anyio
import psutil
import pytest
import yaml

from corral.errors import Unavailable
from tests.support import HubProcess, server_entry, wait_until

pytestmark = pytest.mark.anyio


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


async def test_lazy_server_starts_on_first_call_and_stops_when_idle(fleet_factory: Any) -> None:
    async with fleet_factory() as fleet:
        lazy = fleet.add("lazy", {**server_entry("echo"), "lazy": True, "idle_stop_s": 0.5})
        # It starts once to learn its tools, then stops until it is used.
        await fleet.status("lazy", "healthy")
        await fleet.status("lazy", "unknown")
        assert lazy.state.pid is None
        assert "first use" in lazy.state.detail
        assert lazy.idle and lazy.offers_catalog
        assert "echo" in {tool.name for tool in lazy.state.tools}

        result = await lazy.call_tool("echo", {"text": "wake up"})
        assert result.content[0].text == "wake up"  # type: ignore[union-attr]
        pid = lazy.state.pid
        assert pid is not None and alive(pid)

        await fleet.status("lazy", "unknown", within=5)
        with anyio.fail_after(5):
            while alive(pid):  # noqa: ASYNC110 - the process table has no event to wait on
                await anyio.sleep(0.02)
        assert lazy.state.restarts == 0
        # Used again, it starts again.
        assert (await lazy.call_tool("echo", {"text": "again"})).is_error is False


async def test_concurrent_calls_never_exceed_the_servers_cap(fleet_factory: Any) -> None:
    async with fleet_factory() as fleet:
        slow = fleet.add("slow", {**server_entry("slow"), "max_concurrent": 2})
        await fleet.status("slow", "healthy")
        peak = 0

        async def sample() -> None:
            nonlocal peak
            while True:
                peak = max(peak, slow.state.calls_in_flight)
                await anyio.sleep(0.005)

        async with anyio.create_task_group() as calls:
            calls.start_soon(sample)
            async with anyio.create_task_group() as batch:
                for _ in range(6):
                    batch.start_soon(slow.call_tool, "sleep", {"seconds": 0.1})
            calls.cancel_scope.cancel()
        assert peak == 2


async def test_disabled_server_has_no_process_and_refuses_calls(fleet_factory: Any) -> None:
    async with fleet_factory() as fleet:
        echo = fleet.add("echo", server_entry("echo"))
        await fleet.status("echo", "healthy")
        pid = echo.state.pid
        assert pid is not None
        fleet.supervisor.apply(echo.spec.model_copy(update={"enabled": False}))
        await fleet.status("echo", "disabled")
        assert not alive(pid)
        with pytest.raises(Unavailable, match="disabled"):
            await echo.call_tool("echo", {"text": "x"})
        fleet.supervisor.apply(echo.spec.model_copy(update={"enabled": True}))
        await fleet.status("echo", "healthy")


async def test_manual_restart_replaces_the_process_and_counts(fleet_factory: Any) -> None:
    async with fleet_factory() as fleet:
        echo = fleet.add("echo", server_entry("echo"))
        await fleet.status("echo", "healthy")
        first = echo.state.pid
        echo.request_restart()
        await fleet.status("echo", "starting")
        await fleet.status("echo", "healthy")
        assert echo.state.pid != first
        assert echo.state.restarts == 1


async def test_removed_server_is_stopped(fleet_factory: Any) -> None:
    async with fleet_factory() as fleet:
        echo = fleet.add("echo", server_entry("echo"))
        await fleet.status("echo", "healthy")
        pid = echo.state.pid
        assert pid is not None
        fleet.supervisor.forget("echo")
        await fleet.next_event(lambda e: e.type == "server.removed")
        with anyio.fail_after(10):
            while alive(pid):  # noqa: ASYNC110 - the process table has no event to wait on
                await anyio.sleep(0.02)


def children_of_hub(hub: HubProcess) -> list[int]:
    servers = hub.get("/api/v1/servers").json()["items"]
    return [server["pid"] for server in servers]


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_stopping_the_hub_leaves_no_child_behind(
    start_hub: Callable[..., HubProcess], stop_signal: signal.Signals
) -> None:
    config = {"mcpServers": {f"echo{index}": server_entry("echo") for index in range(10)}}
    hub = start_hub(config)
    wait_until(lambda: all(children_of_hub(hub)), timeout=30)
    pids = children_of_hub(hub)
    assert len(set(pids)) == 10
    descendants = {child.pid for child in psutil.Process(hub.process.pid).children(recursive=True)}
    assert set(pids) <= descendants

    assert hub.stop(stop_signal, timeout=30) == 0
    survivors = [pid for pid in descendants if alive(pid)]
    assert survivors == [], f"left behind: {survivors}\n{hub.log()}"
    assert "stopping every server" in hub.log()


def test_ctrl_c_in_a_terminal_process_group_stops_cleanly(tmp_path: Any) -> None:
    """Ctrl-C in a terminal reaches the whole foreground group; the hub still stops its children itself."""
    config = tmp_path / "corral.yaml"
    config.write_text(yaml.safe_dump({"mcpServers": {"echo": server_entry("echo")}}))
    from tests.support import VENV_BIN, free_port

    port = free_port()
    process = subprocess.Popen(
        [
            str(VENV_BIN / "corral"),
            "serve",
            "--config",
            str(config),
            "--data-dir",
            str(tmp_path / "d"),
            "--port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        import httpx

        wait_until(lambda: _ready(httpx, port), timeout=30)
        descendants = [child.pid for child in psutil.Process(process.pid).children(recursive=True)]
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(30) == 0
        assert [pid for pid in descendants if alive(pid)] == []
    finally:
        if process.poll() is None:
            process.kill()


def _ready(httpx: Any, port: int) -> bool:
    try:
        return bool(httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200)
    except httpx.TransportError:
        return False
