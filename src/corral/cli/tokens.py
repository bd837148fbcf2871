"""``corral token …``: make, list and revoke API tokens on a running hub.

A new token is printed once, alone on stdout, so ``TOKEN=$(corral token create ci --role operator)``
captures it; what it is and when it expires goes to stderr.
"""

from __future__ import annotations

import re
from typing import Annotated

import typer

from corral.cli import output
from corral.cli.options import DEFAULT_HUB, DataDirOpt, HubOpt, JsonOpt, TokenOpt, hub_client
from corral.errors import InvalidInput

token_app = typer.Typer(help="Make, list and revoke API tokens of a running hub.", no_args_is_help=True)

DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """``90``, ``45s``, ``30m``, ``12h``, ``90d``, ``2w`` → seconds. Raises: InvalidInput."""
    match = DURATION.match(text.lower())
    if match is None or float(match.group(1)) <= 0:
        raise InvalidInput(f"--expires-in {text!r}: write a positive duration such as 3600, 30m, 12h or 90d")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Argument(help="What the token is for.")],
    role: Annotated[str, typer.Option("--role", "-r", help="admin, operator or viewer.")] = "viewer",
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="e.g. 3600, 30m, 12h, 90d; never when omitted.")
    ] = None,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Make an API token with a role (at most yours); it is shown once."""
    request: dict[str, object] = {"name": name, "role": role}
    if expires_in is not None:
        request["expires_in"] = parse_duration(expires_in)
    body = hub_client(hub, token, data_dir).post("/api/v1/tokens", request)
    output.json_or(json_out, body, lambda: output.new_token(body))


@token_app.command("list")
def token_list(
    hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None, json_out: JsonOpt = False
) -> None:
    """Your API tokens (an admin sees everyone's); never the tokens themselves."""
    body = hub_client(hub, token, data_dir).every("/api/v1/tokens")
    output.json_or(json_out, body, lambda: output.tokens_table(body["items"]))


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (tok_…), from `token list`.")],
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Revoke an API token; it stops working at once."""
    hub_client(hub, token, data_dir).delete(f"/api/v1/tokens/{token_id}")
    output.line(f"revoked {token_id}")
