"""``corral users …``: add, list, remove users and change passwords on a running hub (admin token)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from corral.cli import output
from corral.cli.client import HubClient
from corral.cli.options import DEFAULT_HUB, DataDirOpt, HubOpt, JsonOpt, TokenOpt, hub_client
from corral.errors import InvalidInput

users_app = typer.Typer(help="Manage the users of a running hub.", no_args_is_help=True)

RoleOpt = Annotated[str, typer.Option("--role", "-r", help="admin, operator or viewer.")]
PasswordStdinOpt = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the password from stdin (for passwd of your own user: the current one, then the new one).",
    ),
]


def read_password(prompt: str, from_stdin: bool, *, confirm: bool = True) -> str:
    """A password from stdin (one line) or typed at a hidden prompt. Raises: InvalidInput when empty."""
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    if not password:
        raise InvalidInput("no password given")
    return password


@users_app.command("add")
def users_add(
    name: str,
    role: RoleOpt = "viewer",
    password_stdin: PasswordStdinOpt = False,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Add a user with a role; asks for its password."""
    password = read_password("Password", password_stdin)
    body = hub_client(hub, token, data_dir).post(
        "/api/v1/users", {"name": name, "password": password, "role": role}
    )
    output.json_or(json_out, body, lambda: output.line(f"added {body['name']} ({body['role']})"))


@users_app.command("list")
def users_list(
    hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None, json_out: JsonOpt = False
) -> None:
    """Every user with its role."""
    body = hub_client(hub, token, data_dir).every("/api/v1/users")
    output.json_or(json_out, body, lambda: output.users_table(body["items"]))


@users_app.command("remove")
def users_remove(
    name: str, hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None
) -> None:
    """Remove a user and revoke its API tokens."""
    hub_client(hub, token, data_dir).delete(f"/api/v1/users/{name}")
    output.line(f"removed {name}")


@users_app.command("role")
def users_role(
    name: str,
    role: Annotated[str, typer.Argument(help="admin, operator or viewer.")],
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Change a user's role."""
    body = hub_client(hub, token, data_dir).patch(f"/api/v1/users/{name}", {"role": role})
    output.line(f"{body['name']} is now {body['role']}")


@users_app.command("passwd")
def users_passwd(
    name: str,
    password_stdin: PasswordStdinOpt = False,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
) -> None:
    """Change a user's password (your own asks for the current one first); its login sessions end."""
    client = hub_client(hub, token, data_dir)
    body: dict[str, str | None] = {"current_password": None}
    if _is_me(client, name):
        body["current_password"] = read_password("Current password", password_stdin, confirm=False)
    body["password"] = read_password("New password", password_stdin)
    client.put(f"/api/v1/users/{name}/password", body)
    output.line(f"password of {name} changed")


def _is_me(client: HubClient, name: str) -> bool:
    me = client.get("/api/v1/auth/whoami")
    return bool(me["user"] == name)
