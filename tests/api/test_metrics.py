"""``/metrics`` of a real hub: tool calls through /mcp and workflows, servers, the event stream, scraped
and read with prometheus_client's own parser."""

from __future__ import annotations

import os
import signal
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.asyncio.client import connect

from corral import __version__
from corral.supervisor.state import ServerStatus
from tests.api.authz_support import bearer, token_for
from tests.api.mcp_support import mcp_session
from tests.rig import RunHub, RunningHub
from tests.support import server_entry

pytestmark = pytest.mark.anyio

WITHIN = 20.0
GREETING = {
    "workflow_id": "greeting",
    "name": "Greets and adds",
    "steps": [
        {"id": "hello", "tool": "echo__echo", "args": {"text": "hello"}},
        {"id": "sum", "tool": "echo__add", "args": {"a": 2, "b": 3}, "dependencies": ["hello"]},
    ],
}
BROKEN = {
    "workflow_id": "broken",
    "name": "Adds a word",
    "steps": [{"id": "bad", "tool": "echo__add", "args": {"a": "two", "b": 3}}],
}


class Scrape:
    """The samples of one scrape, by sample name and labels."""

    def __init__(self, text: str) -> None:
        self.families = {family.name: family for family in text_string_to_metric_families(text)}
        self._samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in self.families.values()
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """Raises: KeyError when the scrape has no such sample."""
        return self._samples[(name, frozenset(labels.items()))]

    def labelled(self, name: str, **labels: str) -> list[float]:
        """The values of every sample of ``name`` whose labels include ``labels``."""
        wanted = set(labels.items())
        return [value for (sample, key), value in self._samples.items() if sample == name and wanted <= key]

    def buckets(self, histogram: str, **labels: str) -> list[float]:
        """A histogram's cumulative bucket counts, smallest bound first."""
        found = [
            (float(dict(key)["le"]), value)
            for (sample, key), value in self._samples.items()
            if sample == f"{histogram}_bucket" and set(labels.items()) <= key
        ]
        return [value for _, value in sorted(found)]


async def scrape(running: RunningHub) -> Scrape:
    response = await running.client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


async def run_workflow(running: RunningHub, definition: dict[str, Any]) -> dict[str, Any]:
    created = await running.client.post("/api/v1/workflows", json=definition)
    assert created.status_code == 201, created.text
    started = await running.client.post(f"/api/v1/workflows/{definition['workflow_id']}/execute", json={})
    assert started.status_code == 202, started.text
    url = f"/api/v1/executions/{started.json()['execution_id']}"

    def finished() -> bool:
        return running.hub.workflows.running_count() == 0

    await running.wait_for(finished)
    execution: dict[str, Any] = (await running.client.get(url)).json()
    return execution


async def test_metrics_count_calls_steps_and_executions_and_show_servers_and_stream_clients(
    run_hub: RunHub,
) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        await running.wait_status("echo", ServerStatus.HEALTHY)
        assert running.hub.admin_token is not None
        async with mcp_session(running, running.hub.admin_token) as client:
            for text in ("one", "two"):
                assert not (await client.call_tool("echo__echo", {"text": text})).is_error
            assert (await client.call_tool("echo__add", {"a": "not a number", "b": 1})).is_error
        assert (await run_workflow(running, GREETING))["status"] == "completed"
        assert (await run_workflow(running, BROKEN))["status"] == "failed"
        ws_url = running.url.replace("http://", "ws://") + "/ws/events"
        async with connect(ws_url, subprotocols=["bearer", running.hub.admin_token], proxy=None) as ws:  # type: ignore[list-item]
            await ws.recv()  # the snapshot: the client follows the stream now
            metrics = await scrape(running)

    # Calls from MCP clients and from workflow steps alike, by outcome.
    assert metrics.value("corral_tool_calls_total", server="echo", tool="echo", outcome="ok") == 3
    assert metrics.value("corral_tool_calls_total", server="echo", tool="add", outcome="ok") == 1
    assert (
        metrics.value("corral_tool_calls_total", server="echo", tool="add", outcome="invalid_arguments") == 2
    )
    assert metrics.families["corral_tool_calls"].type == "counter"
    assert metrics.value("corral_tool_call_duration_seconds_count", server="echo", tool="echo") == 3
    assert (
        metrics.value("corral_tool_call_duration_seconds_bucket", server="echo", tool="echo", le="+Inf") == 3
    )
    assert metrics.value("corral_tool_call_duration_seconds_sum", server="echo", tool="echo") > 0
    cumulative = metrics.buckets("corral_tool_call_duration_seconds", server="echo", tool="add")
    assert cumulative == sorted(cumulative) and cumulative[-1] == 3

    assert metrics.value("corral_server_status", server="echo", status="healthy") == 1
    assert sum(metrics.labelled("corral_server_status", server="echo")) == 1
    assert metrics.value("corral_server_circuit_state", server="echo", state="closed") == 1
    assert metrics.value("corral_server_circuit_state", server="echo", state="open") == 0
    assert metrics.value("corral_server_restarts_total", server="echo") == 0

    assert metrics.value("corral_workflow_executions", status="completed") == 1
    assert metrics.value("corral_workflow_executions", status="failed") == 1
    assert metrics.value("corral_workflow_executions", status="running") == 0
    steps = "corral_workflow_step_duration_seconds_count"
    assert metrics.value(steps, workflow="greeting", step="hello", status="completed") == 1
    assert metrics.value(steps, workflow="greeting", step="sum", status="completed") == 1
    assert metrics.value(steps, workflow="broken", step="bad", status="failed") == 1

    assert metrics.value("corral_event_stream_clients") == 1
    assert metrics.value("corral_event_log_lag_events") >= 0
    assert metrics.value("corral_event_log_dropped_events_total") == 0
    assert metrics.value("corral_info", version=__version__) == 1
    assert "process_cpu_seconds" in metrics.families


async def test_a_killed_server_counts_as_a_restart(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running:
        await running.wait_status("echo", ServerStatus.HEALTHY)
        pid = running.hub.supervisor.runner("echo").state.pid
        assert pid is not None
        before = await scrape(running)

        os.kill(pid, signal.SIGKILL)
        await running.wait_status("echo", ServerStatus.HEALTHY, restarts=1)
        after = await scrape(running)

    assert before.value("corral_server_restarts_total", server="echo") == 0
    assert after.value("corral_server_restarts_total", server="echo") == 1
    assert after.value("corral_server_status", server="echo", status="healthy") == 1


async def test_a_scraper_reads_metrics_with_a_viewer_token_and_nothing_without_one(run_hub: RunHub) -> None:
    async with run_hub() as running:
        scraper = await token_for(running.client, role="viewer")
        async with running.anonymous() as anon:
            as_viewer = await anon.get("/metrics", headers=bearer(scraper["token"]))
            openmetrics = await anon.get(
                "/metrics", headers={**bearer(scraper["token"]), "Accept": "application/openmetrics-text"}
            )
            without_token = await anon.get("/metrics")

    assert as_viewer.status_code == 200
    assert "corral_server_status" in as_viewer.text
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.endswith("# EOF\n")
    assert without_token.status_code == 401
    assert without_token.headers["www-authenticate"] == 'Bearer realm="corral"'
