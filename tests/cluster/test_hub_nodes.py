"""The built-in node through a real hub: REST, the MCP tool, the event stream's snapshot, metrics."""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp_types as types
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from tests.api.mcp_support import mcp_session
from tests.cluster.model_server import OLLAMA, model_server
from tests.rig import RunHub, RunningHub
from tests.support import free_port

pytestmark = pytest.mark.anyio


def node_settings(*endpoints: dict[str, str]) -> dict[str, Any]:
    return {
        "name": "lab-1",
        "labels": {"zone": "lab", "gpu": "none"},
        "inventory_interval_s": 3600,
        "model_endpoints": list(endpoints),
        "probe_timeout_s": 10.0,
    }


async def test_the_hub_lists_its_builtin_node_with_labels_and_inventory(run_hub: RunHub) -> None:
    async with run_hub(node=node_settings()) as running:
        listed = await running.client.get("/api/v1/nodes")
        one = await running.client.get("/api/v1/nodes/lab-1")
        by_label = await running.client.get("/api/v1/nodes", params={"label": ["zone=lab", "gpu=none"]})
        other_label = await running.client.get("/api/v1/nodes", params={"label": "zone=rack-2"})
        lost = await running.client.get("/api/v1/nodes", params={"alive": "false"})
        bad_label = await running.client.get("/api/v1/nodes", params={"label": "zone"})

    assert listed.status_code == 200
    page = listed.json()
    assert page["next_cursor"] is None
    assert [node["name"] for node in page["items"]] == ["lab-1"]
    node = one.json()
    assert node == page["items"][0]
    assert node["builtin"] is True and node["alive"] is True
    assert node["labels"] == {"zone": "lab", "gpu": "none"}
    assert node["boot_id"] == running.hub.node.boot_id
    inventory = node["inventory"]
    assert inventory["cpus"] >= 1
    assert inventory["memory_total_mib"] > 0
    assert inventory["gpus"]["gpus"] or inventory["gpus"]["reason"]
    assert (inventory["models"], inventory["model_errors"]) == ([], [])
    assert [item["name"] for item in by_label.json()["items"]] == ["lab-1"]
    assert other_label.json()["items"] == []
    assert lost.json()["items"] == []
    assert bad_label.status_code == 422
    assert bad_label.json()["detail"] == "label: expected key=value, got 'zone'"


async def test_an_unknown_node_is_a_404_problem_naming_the_known_ones(run_hub: RunHub) -> None:
    async with run_hub(node=node_settings()) as running:
        missing = await running.client.get("/api/v1/nodes/gpu-box")
        missing_models = await running.client.get("/api/v1/nodes/gpu-box/models")

    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "not_found"
    assert missing.json()["detail"] == "no node is called 'gpu-box'; known: lab-1"
    assert missing_models.status_code == 404


async def test_a_node_serves_the_models_of_its_local_servers_and_says_which_could_not_be_asked(
    run_hub: RunHub,
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"
    with model_server(dict(OLLAMA)) as ollama:
        settings = node_settings({"kind": "ollama", "url": ollama.url}, {"kind": "openai", "url": closed})
        async with run_hub(node=settings) as running:
            answer = await running.client.get("/api/v1/nodes/lab-1/models")

    assert answer.status_code == 200
    body = answer.json()
    assert body["node"] == "lab-1"
    assert [(model["name"], model["loaded"]) for model in body["models"]] == [
        ("deepseek-r1:latest", False),
        ("llama3.2:latest", True),
    ]
    assert body["models"][1]["endpoint"] == ollama.url
    assert len(body["model_errors"]) == 1
    assert body["model_errors"][0].startswith(f"openai {closed}: cannot connect")


async def call(running: RunningHub, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    assert running.hub.admin_token is not None
    async with mcp_session(running, running.hub.admin_token) as client:
        result: types.CallToolResult = await client.call_tool(name, arguments)
        return result


async def test_the_manage_cluster_nodes_tool_lists_shows_and_gives_models(run_hub: RunHub) -> None:
    with model_server(dict(OLLAMA)) as ollama:
        async with run_hub(node=node_settings({"kind": "ollama", "url": ollama.url})) as running:
            listed = await call(running, "manage_cluster_nodes", {"action": "list"})
            details = await call(running, "manage_cluster_nodes", {"action": "details", "name": "lab-1"})
            models = await call(running, "manage_cluster_nodes", {"action": "models", "name": "lab-1"})
            nameless = await call(running, "manage_cluster_nodes", {"action": "details"})
            unknown = await call(running, "manage_cluster_nodes", {"action": "models", "name": "gpu-box"})
            bad_action = await call(running, "manage_cluster_nodes", {"action": "drain", "name": "lab-1"})
            rest_view = (await running.client.get("/api/v1/nodes/lab-1")).json()
            async with mcp_session(running, running.hub.admin_token or "") as client:
                tool = next(
                    tool for tool in (await client.list_tools()).tools if tool.name == "manage_cluster_nodes"
                )

    assert not listed.is_error and listed.structured_content is not None
    assert listed.structured_content["message"] == "1 nodes, 1 alive"
    assert [node["name"] for node in listed.structured_content["nodes"]] == ["lab-1"]
    assert details.structured_content is not None
    assert details.structured_content["nodes"] == [rest_view]
    assert details.structured_content["message"].startswith("lab-1: alive; ")
    assert models.structured_content is not None
    assert [model["name"] for model in models.structured_content["models"]] == [
        "deepseek-r1:latest",
        "llama3.2:latest",
    ]
    assert models.structured_content["message"] == "lab-1: 2 models, 1 loaded"
    assert json.loads(models.content[0].text) == models.structured_content  # type: ignore[union-attr]
    assert nameless.is_error
    assert nameless.content[0].text == "'details' needs the node's 'name'"  # type: ignore[union-attr]
    assert unknown.is_error
    assert unknown.content[0].text == "no node is called 'gpu-box'; known: lab-1"  # type: ignore[union-attr]
    assert bad_action.is_error
    assert tool.input_schema["properties"]["action"]["enum"] == ["list", "details", "models"]
    assert tool.output_schema is not None and "nodes" in tool.output_schema["properties"]


async def receive(ws: ClientConnection) -> dict[str, Any]:
    with anyio.fail_after(10):
        message = json.loads(await ws.recv())
    assert isinstance(message, dict)
    return message


async def test_the_event_stream_has_the_node_in_its_snapshot_and_its_joining_in_the_log(
    run_hub: RunHub,
) -> None:
    async with run_hub(node=node_settings()) as running:
        url = running.url.replace("http://", "ws://") + "/ws/events?topics=nodes"
        token = running.hub.admin_token or ""
        async with connect(url, subprotocols=[Subprotocol("bearer"), Subprotocol(token)], proxy=None) as ws:
            snapshot = await receive(ws)
        async with connect(
            url + "&last_event_id=0", subprotocols=[Subprotocol("bearer"), Subprotocol(token)], proxy=None
        ) as ws:
            replayed = await receive(ws)
        view = (await running.client.get("/api/v1/nodes/lab-1")).json()

    assert snapshot["type"] == "snapshot"
    assert snapshot["nodes"] == [view]
    assert (replayed["topic"], replayed["type"], replayed["subject"]) == ("nodes", "node.joined", "lab-1")
    assert replayed["data"]["boot_id"] == view["boot_id"]


async def test_metrics_tell_the_nodes_inventory(run_hub: RunHub) -> None:
    async with run_hub(node=node_settings()) as running:
        metrics = (await running.client.get("/metrics")).text
        boot_id = running.hub.node.boot_id

    assert f'corral_node_info{{boot_id="{boot_id}",builtin="true",node="lab-1"}} 1.0' in metrics
    assert 'corral_node_alive{node="lab-1"} 1.0' in metrics
    assert 'corral_node_cpus{node="lab-1"}' in metrics
    assert 'corral_node_memory_bytes{kind="total",node="lab-1"}' in metrics
    assert 'corral_node_gpus{node="lab-1"}' in metrics
    assert 'corral_node_local_models{loaded="true",node="lab-1"} 0.0' in metrics
