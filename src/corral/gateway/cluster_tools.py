"""Corral's cluster tool for MCP clients: ``manage_cluster_nodes`` lists nodes, shows one, its models.

The answers carry the same node shape as ``GET /api/v1/nodes`` and the ``nodes`` topic of the event
stream (``NodeInfo``). Reading nodes needs a viewer; nothing here changes anything.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from corral.auth.principal import Role
from corral.cluster.builtin import NodeDirectory
from corral.cluster.models import LocalModel, NodeInfo
from corral.errors import InvalidInput
from corral.gateway.management import ManagementTool, define_tool
from corral.strict import StrictModel

NodeAction = Literal["list", "details", "models"]


class ManageNodesInput(StrictModel):
    action: NodeAction = Field(
        description="'list': every node; 'details': one node with its inventory; 'models': the models "
        "a node serves locally."
    )
    name: str | None = Field(None, description="The node; required for 'details' and 'models'.")


class ManageNodesOutput(BaseModel):
    action: str
    nodes: list[NodeInfo] = Field(
        description="The nodes the action concerns: name, labels, liveness, inventory, servers."
    )
    models: list[LocalModel] = Field(
        default_factory=list, description="For 'models': what the node's local model servers serve."
    )
    model_errors: list[str] = Field(
        default_factory=list, description="For 'models': endpoints that could not be asked, with why."
    )
    message: str


def cluster_tools(nodes: NodeDirectory) -> dict[str, ManagementTool]:
    async def manage(request: ManageNodesInput) -> ManageNodesOutput:
        if request.action == "list":
            every = nodes.nodes()
            alive = sum(node.alive for node in every)
            return ManageNodesOutput(action="list", nodes=every, message=f"{len(every)} nodes, {alive} alive")
        if not request.name:
            raise InvalidInput(f"'{request.action}' needs the node's 'name'")
        node = nodes.get(request.name)
        if request.action == "details":
            return ManageNodesOutput(action="details", nodes=[node], message=_summary(node))
        models, errors = nodes.models(node.name)
        loaded = sum(model.loaded for model in models)
        return ManageNodesOutput(
            action="models",
            nodes=[node],
            models=list(models),
            model_errors=list(errors),
            message=f"{node.name}: {len(models)} models, {loaded} loaded"
            + (f"; {len(errors)} endpoints could not be asked" if errors else ""),
        )

    return {
        "manage_cluster_nodes": define_tool(
            "manage_cluster_nodes",
            "List the nodes (machines) of the cluster, or show one node's labels and inventory (CPUs, "
            "memory, GPUs, local models), or the models it serves.",
            ManageNodesInput,
            ManageNodesOutput,
            manage,
            least_role=Role.VIEWER,
        )
    }


def _summary(node: NodeInfo) -> str:
    state = "alive" if node.alive else f"lost ({node.lost_reason or 'no reason given'})"
    inventory = node.inventory
    if inventory is None:
        return f"{node.name}: {state}; no inventory yet"
    gpus = inventory.gpus
    gpu_text = f"{len(gpus.gpus)} GPUs" if gpus.gpus else f"no GPUs ({gpus.reason})"
    return f"{node.name}: {state}; {inventory.cpus} CPUs, {gpu_text}, {len(inventory.models)} models"
