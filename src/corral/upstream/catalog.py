"""What one upstream offers: tools, resources, resource templates and prompts."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import mcp_types as types
from mcp import Client
from pydantic import BaseModel

ItemT = TypeVar("ItemT", bound=BaseModel)


@dataclass(frozen=True)
class UpstreamCatalog:
    tools: list[types.Tool] = field(default_factory=list)
    resources: list[types.Resource] = field(default_factory=list)
    resource_templates: list[types.ResourceTemplate] = field(default_factory=list)
    prompts: list[types.Prompt] = field(default_factory=list)
    _tools_by_name: dict[str, types.Tool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_tools_by_name", {tool.name: tool for tool in self.tools})

    def tool(self, name: str) -> types.Tool | None:
        """The tool of that name (its name on this server), if the server lists one."""
        return self._tools_by_name.get(name)

    def digests(self) -> dict[str, str]:
        """One fingerprint per kind, to tell which lists changed."""
        return {
            "tools": digest(self.tools),
            "resources": digest([*self.resources, *self.resource_templates]),
            "prompts": digest(self.prompts),
        }


def digest(items: list[Any]) -> str:
    listing = [item.model_dump(mode="json", by_alias=True, exclude_none=True) for item in items]
    return hashlib.sha256(json.dumps(listing, sort_keys=True).encode()).hexdigest()


async def load_catalog(client: Client) -> UpstreamCatalog:
    """Everything the server declares it offers, following pagination, never from a cache."""
    capabilities = client.server_capabilities
    session = client.session
    tools = await list_all_tools(client) if capabilities.tools else []
    resources: list[types.Resource] = []
    templates: list[types.ResourceTemplate] = []
    if capabilities.resources:
        resources = await _pages(
            lambda p: session.list_resources(params=p), lambda r: (r.resources, r.next_cursor)
        )
        templates = await _pages(
            lambda p: session.list_resource_templates(params=p),
            lambda r: (r.resource_templates, r.next_cursor),
        )
    prompts: list[types.Prompt] = []
    if capabilities.prompts:
        prompts = await _pages(lambda p: session.list_prompts(params=p), lambda r: (r.prompts, r.next_cursor))
    return UpstreamCatalog(tools, resources, templates, prompts)


async def list_all_tools(client: Client) -> list[types.Tool]:
    session = client.session
    return await _pages(lambda p: session.list_tools(params=p), lambda r: (r.tools, r.next_cursor))


PageT = TypeVar("PageT")


async def _pages(
    fetch: Callable[[types.PaginatedRequestParams], Awaitable[PageT]],
    unpack: Callable[[PageT], tuple[list[ItemT], str | None]],
    max_pages: int = 1000,
) -> list[ItemT]:
    items: list[ItemT] = []
    cursor: str | None = None
    for _ in range(max_pages):
        page_items, cursor = unpack(await fetch(types.PaginatedRequestParams(cursor=cursor)))
        items.extend(page_items)
        if cursor is None:
            break
    return items
