"""``corral nats config`` and ``corral nodes add``: per-node NATS credentials for a scale-out hub.

Local files only (``cluster/nats/credentials.py`` says what they hold): run them where the NATS
server's configuration lives, then reload the server (``nats-server --signal reload``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from corral.cli import output
from corral.config.settings import CLUSTER_NODE_NAME_PATTERN
from corral.errors import ConfigError

if TYPE_CHECKING:
    from corral.cluster.nats.credentials import Issued

HUB_USER = "corral-hub"
"""The hubs' NATS user (``cluster/nats/credentials.py``, imported only when a command here runs: it
brings NATS's client, which the other commands do without)."""

nats_app = typer.Typer(
    help="NATS for a scale-out hub: its configuration and credentials.", no_args_is_help=True
)

NatsDirArg = Annotated[Path, typer.Argument(help="Folder of the NATS configuration and credentials.")]


@nats_app.command("config")
def nats_config(
    directory: NatsDirArg,
    node: Annotated[
        list[str] | None, typer.Option("--node", help="A node to issue a credential for (repeatable).")
    ] = None,
    listen: Annotated[str | None, typer.Option(help="Where NATS listens [default: 0.0.0.0:4222].")] = None,
    store_dir: Annotated[
        str | None, typer.Option(help="JetStream's data folder [default: DIR/jetstream].")
    ] = None,
) -> None:
    """Write DIR/nats.conf (JetStream, a user for the hubs and one per node, each kept to its own
    subjects) and a credential file per user in DIR/credentials/; run again to add nodes."""
    from corral.cluster.nats.credentials import issue

    _report(issue(directory, _names(node or []), listen=listen, store_dir=store_dir))


def add_node(
    name: Annotated[str, typer.Argument(help="The node's name, as `corral node --name` gives it.")],
    nats_dir: Annotated[Path, typer.Option("--nats-dir", help="The folder `corral nats config` wrote.")],
) -> None:
    """Issue a NATS credential for one more node (and write nats.conf again)."""
    from corral.cluster.nats.credentials import issue

    issued = issue(nats_dir, _names([name]))
    output.line(f"credential for node {name}: {issued.credentials[name]}")
    output.line(f"reload NATS to let it in: nats-server --signal reload (configuration {issued.config})")


def _names(nodes: list[str]) -> list[str]:
    """Raises: ConfigError for a name a node may not have."""
    for name in nodes:
        if not _valid(name):
            raise ConfigError(f"node name {name!r}: 1 to 63 letters, digits, '_' or '-' (no dots)")
    return nodes


def _valid(name: str) -> bool:
    return name != HUB_USER and re.match(CLUSTER_NODE_NAME_PATTERN, name) is not None


def _report(issued: Issued) -> None:
    output.line(f"NATS configuration: {issued.config}")
    for user, path in sorted(issued.credentials.items()):
        output.line(f"credential for {'the hubs' if user == HUB_USER else 'node ' + user}: {path}")
    output.line(f"start NATS with: nats-server -c {issued.config}")
