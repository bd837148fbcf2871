"""The layered health check of one connected server.

Layers, cheapest first, stopping at the first that fails: the process is
alive (stdio) → the server answers MCP (``ping``, or a fresh ``tools/list``
where ping is gone) → optionally real work (a canary tool call) and a tool
list that did not change unannounced. Each result carries a stable reason
code: ``ok``, ``slow``, ``tools_changed``, ``process_exited``,
``ping_timeout``, ``ping_failed``, ``session_lost``, ``canary_failed``.
"""

from __future__ import annotations

import anyio
import mcp_types as types
from mcp import Client, MCPError

from corral.clock import Clock
from corral.registry.models import ServerSpec
from corral.settings.models import RuntimeSettings
from corral.supervisor.state import HealthCheck
from corral.upstream.catalog import digest, list_all_tools
from corral.upstream.stdio import StdioProcess


async def probe(
    client: Client,
    spec: ServerSpec,
    process: StdioProcess | None,
    settings: RuntimeSettings,
    clock: Clock,
    *,
    known_tools_hash: str = "",
) -> HealthCheck:
    def result(ok: bool, reason: str, message: str, latency_ms: float | None = None) -> HealthCheck:
        return HealthCheck(ok, reason, message, clock.now(), latency_ms)

    if process is not None and process.returncode is not None:
        return result(False, "process_exited", f"process exited with code {process.returncode}")

    timeout = settings.ping_timeout_s
    started = clock.monotonic()
    try:
        with anyio.fail_after(timeout):
            await _answer(client)
    except TimeoutError:
        return result(False, "ping_timeout", f"no answer to ping within {timeout:g}s")
    except MCPError as exc:
        if exc.code == types.INVALID_REQUEST and "session not found" in exc.message.lower():
            return result(False, "session_lost", "the server no longer knows this session (it restarted)")
        return result(False, "ping_failed", f"ping failed: {exc.message}")
    latency_ms = (clock.monotonic() - started) * 1000

    if spec.canary is not None:
        try:
            with anyio.fail_after(timeout):
                answer = await client.session.call_tool(spec.canary.tool, spec.canary.arguments)
        except TimeoutError:
            return result(
                False,
                "canary_failed",
                f"canary {spec.canary.tool!r} timed out after {timeout:g}s",
                latency_ms,
            )
        except MCPError as exc:
            return result(
                False, "canary_failed", f"canary {spec.canary.tool!r} failed: {exc.message}", latency_ms
            )
        if answer.is_error:
            return result(
                False, "canary_failed", f"canary {spec.canary.tool!r} returned an error", latency_ms
            )

    if spec.watch_tools and known_tools_hash:
        with anyio.fail_after(timeout):
            tools = await list_all_tools(client)
        if digest(tools) != known_tools_hash:
            return result(True, "tools_changed", "tool list changed without a notification", latency_ms)

    if latency_ms > settings.degraded_latency_ms:
        return result(True, "slow", f"answered in {latency_ms:.0f} ms", latency_ms)
    return result(True, "ok", f"answered in {latency_ms:.1f} ms", latency_ms)


async def _answer(client: Client) -> None:
    """``ping``; on servers of the 2026 protocol, which dropped it, a fresh ``tools/list``."""
    try:
        await client.session.send_ping()
    except MCPError as exc:
        if exc.code != types.METHOD_NOT_FOUND:
            raise
        await client.session.list_tools()
