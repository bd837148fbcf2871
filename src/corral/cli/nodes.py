"""``corral nodes`` and ``corral nodes show NAME``: the machines a running hub knows and their inventory.

Tables fit an 80-column terminal: names and states read whole, labels and endpoints give way.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from corral.cli import output
from corral.cli.options import DEFAULT_HUB, DataDirOpt, HubOpt, JsonOpt, TokenOpt, hub_client

nodes_app = typer.Typer(
    help="The nodes (machines) of a running hub: labels, CPUs, memory, GPUs, local models.",
    invoke_without_command=True,
)


@nodes_app.callback()
def nodes_callback(
    ctx: typer.Context,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List the nodes (the same as ``corral nodes list``)."""
    if ctx.invoked_subcommand is None:
        nodes_list(hub, token, data_dir, json_out)


@nodes_app.command("list")
def nodes_list(
    hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None, json_out: JsonOpt = False
) -> None:
    """List the nodes with their state, CPUs, load, memory, GPUs, models and labels."""
    body = hub_client(hub, token, data_dir).every("/api/v1/nodes")
    output.json_or(json_out, body, lambda: nodes_table(body["items"]))


@nodes_app.command("show")
def nodes_show(
    name: str,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Everything the hub knows about one node: labels, inventory, GPUs, local models, servers."""
    body = hub_client(hub, token, data_dir).get(f"/api/v1/nodes/{name}")
    output.json_or(json_out, body, lambda: node_details(body))


def _gib(mib: int | None) -> str:
    return "-" if mib is None else f"{mib / 1024:.1f}"


def _memory(inventory: dict[str, Any]) -> str:
    total, available = inventory["memory_total_mib"], inventory["memory_available_mib"]
    return "-" if total is None else f"{_gib(available)}/{_gib(total)} GiB"


def _state(node: dict[str, Any]) -> str:
    return "[green]alive[/]" if node["alive"] else "[red]lost[/]"


def _labels(labels: dict[str, str]) -> str:
    return escape(", ".join(f"{key}={value}" for key, value in sorted(labels.items()))) or "-"


def nodes_table(items: list[dict[str, Any]]) -> None:
    table = Table(header_style="bold")
    widest = max([4, *(len(item["name"]) for item in items)])
    table.add_column("NAME", no_wrap=True, min_width=min(widest, 24))
    table.add_column("STATE", no_wrap=True)
    table.add_column("CPUS", justify="right", no_wrap=True)
    table.add_column("LOAD", justify="right", no_wrap=True)
    table.add_column("MEMORY", no_wrap=True)
    table.add_column("GPUS", justify="right", no_wrap=True)
    table.add_column("MODELS", justify="right", no_wrap=True)
    table.add_column("LABELS")
    for item in items:
        inventory = item["inventory"]
        if inventory is None:
            figures = ["-"] * 5
        else:
            load = "-" if inventory["load1"] is None else f"{inventory['load1']:.2f}"
            figures = [
                str(inventory["cpus"]),
                load,
                _memory(inventory),
                str(len(inventory["gpus"]["gpus"])),
                str(len(inventory["models"])),
            ]
        table.add_row(escape(item["name"]), _state(item), *figures, _labels(item["labels"]))
    output.out.print(table)


def node_details(node: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold", no_wrap=True)
    table.add_column()
    table.add_row("name", escape(node["name"]))
    table.add_row(
        "state", _state(node) + (f" ({escape(node['lost_reason'])})" if node["lost_reason"] else "")
    )
    table.add_row("builtin", "yes" if node["builtin"] else "no")
    table.add_row("boot_id", node["boot_id"])
    table.add_row("joined_at", node["joined_at"][:19])
    table.add_row("labels", _labels(node["labels"]))
    table.add_row("servers", escape(", ".join(node["servers"])) or "-")
    inventory = node["inventory"]
    if inventory is None:
        table.add_row("inventory", "not taken yet")
        output.out.print(table)
        return
    table.add_row("measured_at", inventory["taken_at"][:19])
    table.add_row("cpus", str(inventory["cpus"]))
    table.add_row("load1", "-" if inventory["load1"] is None else f"{inventory['load1']:.2f}")
    table.add_row("memory", _memory(inventory) + " available")
    gpus = inventory["gpus"]
    if gpus["gpus"]:
        for gpu in gpus["gpus"]:
            utilisation = "" if gpu["utilisation_pct"] is None else f", {gpu['utilisation_pct']}% busy"
            free = f"{_gib(gpu['memory_free_mib'])}/{_gib(gpu['memory_total_mib'])} GiB free"
            table.add_row(f"gpu {gpu['index']}", escape(f"{gpu['name']}: {free}{utilisation}"))
        if gpus["driver"]:
            table.add_row("driver", escape(gpus["driver"]))
    else:
        table.add_row("gpus", escape(f"none: {gpus['reason'] or 'no reason given'}"))
    for error in inventory["model_errors"]:
        table.add_row("model error", escape(error))
    output.out.print(table)
    if inventory["models"]:
        output.out.print(_models_table(inventory["models"]))
    else:
        output.line("no local models")


def _models_table(models: list[dict[str, Any]]) -> Table:
    table = Table(header_style="bold")
    for column in ("MODEL", "KIND", "LOADED", "SIZE", "PARAMS", "QUANT", "ENDPOINT"):
        table.add_column(column, no_wrap=column in ("KIND", "LOADED", "SIZE", "PARAMS"))
    for model in models:
        size = "-" if model["size_mib"] is None else f"{_gib(model['size_mib'])} GiB"
        table.add_row(
            escape(model["name"]), model["kind"], "yes" if model["loaded"] else "no", size,
            escape(model["parameter_size"] or "-"), escape(model["quantization"] or "-"),
            escape(model["endpoint"]),
        )  # fmt: skip
    return table
