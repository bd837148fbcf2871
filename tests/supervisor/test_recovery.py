"""Crash, failure and recovery of real stdio MCP servers under the supervisor."""

from __future__ import annotations

import os
import signal
from typing import Any

import anyio
import pytest

from corral.errors import CircuitOpen
from tests.support import server_entry

pytestmark = pytest.mark.anyio


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_killed_stdio_server_is_noticed_within_a_second_and_comes_back(fleet_factory: Any) -> None:
    async with fleet_factory() as fleet:
        runner = fleet.add("echo", server_entry("echo"))
        await fleet.status("echo", "healthy")
        old_pid = runner.state.pid
        assert old_pid is not None

        killed_at = anyio.current_time()
        os.kill(old_pid, signal.SIGKILL)
        down = await fleet.status("echo", "disconnected", within=1.0)
        noticed_after = anyio.current_time() - killed_at
        assert noticed_after < 1.0
        assert "exited" in down.data["detail"] or "closed" in down.data["detail"]

        await fleet.status("echo", "healthy", within=10)
        assert runner.state.pid not in (None, old_pid)
        assert runner.state.restarts == 1
        assert runner.state.total_downtime_s(anyio.current_time()) > 0
        result = await runner.call_tool("echo", {"text": "back"})
        assert result.content[0].text == "back"  # type: ignore[union-attr]


async def test_server_that_never_starts_opens_its_circuit_and_closes_it_once_it_recovers(
    fleet_factory: Any,
) -> None:
    async with fleet_factory(cooldown_s=0.3) as fleet:
        runner = fleet.add("broken", server_entry("crashing", CRASH_ON_START="1"))
        opened = await fleet.next_event(lambda e: e.type == "server.circuit" and e.data["to"] == "open")
        assert opened.subject == "broken"
        assert runner.state.status.value == "circuit_open"
        assert runner.state.consecutive_failures >= 3
        with pytest.raises(CircuitOpen, match="circuit open"):
            await runner.call_tool("work", {})

        # The fault goes away; the half-open probe after the cooldown finds a working server.
        fleet.supervisor.apply(runner.spec.model_copy(update={"env": {}}))
        await fleet.next_event(lambda e: e.type == "server.circuit" and e.data["to"] == "half_open")
        await fleet.next_event(lambda e: e.type == "server.circuit" and e.data["to"] == "closed")
        await fleet.status("broken", "healthy")
        assert (await runner.call_tool("work", {})).is_error is False


async def test_a_failed_half_open_probe_reopens_the_circuit(fleet_factory: Any) -> None:
    async with fleet_factory(cooldown_s=0.2, failure_threshold=2) as fleet:
        fleet.add("broken", server_entry("crashing", CRASH_ON_START="1"))
        await fleet.next_event(lambda e: e.type == "server.circuit" and e.data["to"] == "open")
        await fleet.next_event(lambda e: e.type == "server.circuit" and e.data["to"] == "half_open")
        await fleet.next_event(lambda e: e.type == "server.circuit" and e.data["to"] == "open")


async def test_server_that_keeps_crashing_goes_to_circuit_open_instead_of_looping(fleet_factory: Any) -> None:
    async with fleet_factory(crash_limit=3, failure_threshold=100, cooldown_s=60) as fleet:
        runner = fleet.add("crashing", server_entry("crashing", CRASH_AFTER="1"))
        for _ in range(3):
            await fleet.status("crashing", "healthy")
            with pytest.raises(Exception, match="went away|Connection closed"):
                await runner.call_tool("work", {})
            await fleet.status("crashing", "disconnected", "circuit_open")
        await fleet.status("crashing", "circuit_open", within=5)
        assert runner.state.restarts == 2
        assert runner.state.pid is None


async def test_hanging_server_degrades_while_the_hub_stays_responsive(fleet_factory: Any) -> None:
    async with fleet_factory(ping_timeout_s=0.3, failure_threshold=3, cooldown_s=30) as fleet:
        hanging = fleet.add("hanging", server_entry("hanging"))
        echo = fleet.add("echo", server_entry("echo"))
        await fleet.status("echo", "healthy")
        degraded = await fleet.status("hanging", "degraded")
        assert hanging.state.last_check is not None
        assert hanging.state.last_check.reason == "ping_timeout"
        assert "no answer to ping" in degraded.data["detail"]
        # The other server answers calls while the hanging one times out.
        for index in range(5):
            result = await echo.call_tool("echo", {"text": str(index)})
            assert result.content[0].text == str(index)  # type: ignore[union-attr]
        # Three timeouts in a row open its circuit, and its process is stopped.
        await fleet.status("hanging", "circuit_open")
        assert hanging.state.pid is None
        assert echo.state.status.value == "healthy"


@pytest.mark.slow
async def test_restart_storm_on_one_server_does_not_stop_the_others(fleet_factory: Any) -> None:
    async with fleet_factory(restart_initial_s=0.0, restart_max_s=0.0, failure_threshold=10_000) as fleet:
        storm = fleet.add("storm", server_entry("crashing", CRASH_ON_START="1"))
        echo = fleet.add("echo", server_entry("echo"))
        await fleet.status("echo", "healthy")
        answered = 0
        while storm.state.restarts < 5:
            result = await echo.call_tool("echo", {"text": "still here"})
            answered += not result.is_error
        assert answered > 0
        assert echo.state.restarts == 0


async def test_call_past_its_deadline_fails_clearly_and_cancels_the_upstream(
    fleet_factory: Any, tmp_path: Any
) -> None:
    from corral.errors import UpstreamTimeout

    async with fleet_factory() as fleet:
        slow = fleet.add("slow", server_entry("slow", CORRAL_TEST_MARKER_DIR=str(tmp_path)))
        await fleet.status("slow", "healthy")
        with pytest.raises(UpstreamTimeout, match="did not answer 'sleep' within 0.3s"):
            await slow.call_tool("sleep", {"seconds": 30}, timeout_s=0.3)
        marker = tmp_path / "cancelled-sleep"
        with anyio.fail_after(5):
            while not marker.exists():  # noqa: ASYNC110 - the marker is written by another process
                await anyio.sleep(0.02)
        assert (await slow.call_tool("slow", {"steps": 2, "delay": 0.01})).is_error is False


async def test_progress_notifications_reach_the_caller(fleet_factory: Any) -> None:
    async with fleet_factory() as fleet:
        slow = fleet.add("slow", server_entry("slow"))
        await fleet.status("slow", "healthy")
        seen: list[tuple[float, float | None, str | None]] = []

        async def progress(done: float, total: float | None, message: str | None) -> None:
            seen.append((done, total, message))

        await slow.call_tool("slow", {"steps": 3, "delay": 0.01}, progress=progress)
        assert [done for done, _, _ in seen] == [1, 2, 3]
        assert seen[-1][1] == 3


async def test_announced_tool_list_change_refreshes_the_servers_tools(fleet_factory: Any) -> None:
    async with fleet_factory(ping_interval_s=30) as fleet:
        dynamic = fleet.add("dynamic", server_entry("dynamic"))
        await fleet.status("dynamic", "healthy")
        assert "fresh" not in {tool.name for tool in dynamic.state.tools}
        await dynamic.call_tool("grow", {"name": "fresh"})
        await fleet.next_event(lambda e: e.type == "server.tools_changed" and e.subject == "dynamic")
        assert "fresh" in {tool.name for tool in dynamic.state.tools}


async def test_unannounced_tool_list_change_marks_the_server_degraded(fleet_factory: Any) -> None:
    async with fleet_factory() as fleet:
        dynamic = fleet.add("dynamic", {**server_entry("dynamic"), "watch_tools": True})
        await fleet.status("dynamic", "healthy")
        await dynamic.call_tool("grow_silently", {"name": "sneaky"})
        degraded = await fleet.status("dynamic", "degraded")
        assert "without a notification" in degraded.data["detail"]
        assert "sneaky" in {tool.name for tool in dynamic.state.tools}
        await fleet.status("dynamic", "healthy")


async def test_canary_failure_is_reported_with_its_reason(fleet_factory: Any) -> None:
    async with fleet_factory(failure_threshold=100) as fleet:
        flaky = fleet.add("flaky", {**server_entry("flaky"), "canary": {"tool": "fail_always"}})
        degraded = await fleet.status("flaky", "degraded")
        assert flaky.state.last_check is not None
        assert flaky.state.last_check.reason == "canary_failed"
        assert "fail_always" in degraded.data["detail"]


async def test_threshold_changed_at_run_time_applies_to_the_next_failure(fleet_factory: Any) -> None:
    async with fleet_factory(ping_timeout_s=0.2, failure_threshold=1000, cooldown_s=30) as fleet:
        fleet.add("hanging", server_entry("hanging"))
        await fleet.status("hanging", "degraded")
        await fleet.settings.update({"failure_threshold": 1})
        await fleet.status("hanging", "circuit_open")


async def test_crash_count_resets_after_a_stable_period(fleet_factory: Any) -> None:
    async with fleet_factory(
        crash_limit=2, failure_threshold=100, stable_period_s=0.5, cooldown_s=60
    ) as fleet:
        crashing = fleet.add("crashing", server_entry("crashing"))
        await fleet.status("crashing", "healthy")
        with pytest.raises(Exception, match="went away"):
            await crashing.call_tool("crash", {})
        await fleet.status("crashing", "disconnected")
        await fleet.status("crashing", "healthy")
        assert crashing.state.crashes_in_a_row == 1
        await fleet.next_event(lambda e: e.type == "server.health" and crashing.state.crashes_in_a_row == 0)
        # A second crash after a stable period is the first of a new run, not the one that opens the circuit.
        with pytest.raises(Exception, match="went away"):
            await crashing.call_tool("crash", {})
        await fleet.status("crashing", "disconnected")
        await fleet.status("crashing", "healthy")
        assert crashing.state.circuit_state.value == "closed"
