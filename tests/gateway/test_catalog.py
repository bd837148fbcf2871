"""The merged catalog of the aggregated endpoint: prompts, resources, completions and pagination."""

from __future__ import annotations

from collections.abc import Callable

import anyio
import mcp_types as types
import pytest
from mcp import MCPError

from tests.gateway.clients import ToolListChanges, mcp_client, text
from tests.support import HubProcess, server_entry

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def hub(module_hub: Callable[..., HubProcess]) -> HubProcess:
    return module_hub(
        {"mcpServers": {"conformance": server_entry("conformance"), "dynamic": server_entry("dynamic")}}
    )


async def test_prompts_are_listed_namespaced_and_fetched_by_their_upstream_name(hub: HubProcess) -> None:
    async with mcp_client(hub) as client:
        prompts = {prompt.name: prompt for prompt in (await client.list_prompts()).prompts}
        result = await client.get_prompt(
            "conformance__test_prompt_with_arguments", {"arg1": "a", "arg2": "b"}
        )
    assert "conformance__test_simple_prompt" in prompts
    assert all(prompt.description for prompt in prompts.values())
    assert result.messages and "a" in result.messages[0].content.text  # type: ignore[union-attr]


async def test_resources_and_templates_are_routed_back_to_their_server(hub: HubProcess) -> None:
    async with mcp_client(hub) as client:
        uris = {str(resource.uri) for resource in (await client.list_resources()).resources}
        templates = (await client.list_resource_templates()).resource_templates
        text_resource = await client.read_resource("test://static-text")
        templated = await client.read_resource("test://template/123/data")
        with pytest.raises(MCPError, match="Resource not found: test://nowhere"):
            await client.read_resource("test://nowhere")
    assert "test://static-text" in uris
    assert any(template.uri_template == "test://template/{id}/data" for template in templates)
    assert text_resource.contents[0].text  # type: ignore[union-attr]
    assert "123" in templated.contents[0].text  # type: ignore[union-attr]


async def test_completion_requests_reach_the_server_of_the_prompt(hub: HubProcess) -> None:
    async with mcp_client(hub) as client:
        result = await client.complete(
            types.PromptReference(type="ref/prompt", name="conformance__test_prompt_with_arguments"),
            {"name": "arg1", "value": ""},
        )
    assert isinstance(result.completion.values, list)


async def test_merged_tool_list_is_paginated_without_gaps_or_repeats(hub: HubProcess) -> None:
    announced = ToolListChanges()
    async with mcp_client(hub, message_handler=announced.handle) as client:

        async def all_tools() -> list[str]:
            names: list[str] = []
            cursor: str | None = None
            for _ in range(100):
                page = await client.list_tools(cursor=cursor)
                names.extend(tool.name for tool in page.tools)
                cursor = page.next_cursor
                if cursor is None:
                    break
            return names

        async with mcp_client(hub, "/servers/dynamic/mcp") as upstream:
            for index in range(210):
                await upstream.call_tool("grow", {"name": f"extra_{index:03d}"})
        # The hub re-lists the upstream after its notices: poll until the last tool is listed (the
        # notices may be merged, so their count says nothing), then check clients were told.
        with anyio.fail_after(20):
            while "dynamic__extra_209" not in (names := await all_tools()):  # noqa: ASYNC110
                await anyio.sleep(0.1)
        with anyio.fail_after(10):
            if announced.count == 0:
                await announced.next()
        first = await client.list_tools()
        with pytest.raises(MCPError, match="invalid cursor"):
            await client.list_tools(cursor="not-a-cursor")
    assert first.next_cursor is not None and len(first.tools) == 200
    assert len(names) == len(set(names))
    assert {f"dynamic__extra_{index:03d}" for index in range(210)} <= set(names)


async def test_a_tool_added_upstream_is_callable_through_the_hub(hub: HubProcess) -> None:
    async with mcp_client(hub) as client:
        await client.call_tool("dynamic__grow", {"name": "fresh"})
        result = await client.call_tool("dynamic__fresh", {})
    assert text(result) == "fresh"


async def test_a_servers_request_for_roots_reaches_the_calling_client(hub: HubProcess) -> None:
    async def roots(context: object) -> types.ListRootsResult:
        return types.ListRootsResult(roots=[types.Root(uri="file:///work/project", name="project")])

    async with mcp_client(hub, list_roots_callback=roots) as client:
        result = await client.call_tool("dynamic__roots", {})
    assert result.structured_content == {"result": ["file:///work/project"]}


@pytest.mark.filterwarnings("ignore:resources/subscribe is removed:mcp.MCPDeprecationWarning")
async def test_resource_updates_reach_the_clients_that_subscribed(hub: HubProcess) -> None:
    updates: list[str] = []
    arrived = anyio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))
            arrived.set()

    async with mcp_client(hub, message_handler=on_message) as client:
        await client.subscribe_resource("dynamic://status")
        await client.call_tool("dynamic__touch", {"uri": "dynamic://status"})
        with anyio.fail_after(10):
            await arrived.wait()
    assert updates == ["dynamic://status"]
