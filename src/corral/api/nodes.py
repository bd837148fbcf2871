"""REST routes for nodes: the machines the hub knows (for now its built-in one), inventory, models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from corral.api.authz import needs
from corral.api.context import ApiContext, context
from corral.api.pages import DEFAULT_LIMIT, Cursor, Limit, Page, by_text, page_of
from corral.auth.principal import Role
from corral.cluster.models import LocalModel, NodeInfo
from corral.errors import InvalidInput

router = APIRouter(prefix="/api/v1/nodes", tags=["nodes"])
Ctx = Annotated[ApiContext, Depends(context)]
NODES = by_text("nodes")


class NodeList(Page[NodeInfo]):
    """Nodes sorted by name."""


class NodeModels(BaseModel):
    node: str
    taken_at: datetime | None = Field(description="When the node last asked its model servers; null before.")
    models: list[LocalModel] = Field(description="Models the node's local model servers serve.")
    model_errors: list[str] = Field(description="Model endpoints that could not be asked, each with why.")


def _labels(wanted: list[str]) -> dict[str, str]:
    """Raises: InvalidInput for an item that is not ``key=value``."""
    pairs = {}
    for item in wanted:
        key, equals, value = item.partition("=")
        if not equals or not key:
            raise InvalidInput(f"label: expected key=value, got {item!r}")
        pairs[key] = value
    return pairs


@router.get(
    "", summary="List nodes with their labels and inventory, sorted by name", dependencies=needs(Role.VIEWER)
)
async def list_nodes(
    ctx: Ctx,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    alive: Annotated[bool | None, Query(description="Only nodes alive (true) or lost (false).")] = None,
    label: Annotated[
        list[str] | None,
        Query(description="Only nodes with this label, as key=value (repeatable: all of them)."),
    ] = None,
) -> NodeList:
    labels = _labels(label or [])
    nodes = [
        node
        for node in ctx.nodes.nodes()
        if (alive is None or node.alive is alive)
        and all(node.labels.get(key) == value for key, value in labels.items())
    ]
    page, next_cursor = page_of(nodes, lambda node: node.name, limit, NODES, cursor)
    return NodeList(items=page, next_cursor=next_cursor)


@router.get(
    "/{name}", summary="One node: labels, liveness, inventory, servers", dependencies=needs(Role.VIEWER)
)
async def get_node(name: str, ctx: Ctx) -> NodeInfo:
    return ctx.nodes.get(name)


@router.get(
    "/{name}/models",
    summary="The models a node serves locally (Ollama, OpenAI-compatible servers)",
    dependencies=needs(Role.VIEWER),
)
async def node_models(name: str, ctx: Ctx) -> NodeModels:
    node = ctx.nodes.get(name)
    models, errors = ctx.nodes.models(name)
    return NodeModels(
        node=node.name,
        taken_at=node.inventory.taken_at if node.inventory else None,
        models=list(models),
        model_errors=list(errors),
    )
