"""Options every command that talks to a running hub shares, and the client they make."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from corral.cli.client import HubClient
from corral.config.settings import DEFAULT_PORT

DEFAULT_HUB = f"http://127.0.0.1:{DEFAULT_PORT}"

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (YAML or JSON); ./corral.yaml when present.",
        envvar="CORRAL_CONFIG",
    ),
]
DataDirOpt = Annotated[
    Path | None, typer.Option("--data-dir", help="Where the store and admin token live [default: ./.corral].")
]
HubOpt = Annotated[str, typer.Option("--hub", help="URL of the running hub.", envvar="CORRAL_HUB")]
TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token", help="API token; the local hub's admin token when omitted.", envvar="CORRAL_TOKEN"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def hub_client(hub: str, token: str | None, data_dir: Path | None) -> HubClient:
    return HubClient.local(hub, token, data_dir or Path(".corral"))
