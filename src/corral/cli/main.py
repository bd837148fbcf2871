"""The ``corral`` command: serve the hub, talk to a running one, import configs, migrate the store.

Errors end here: a ``CorralError`` becomes its message on stderr and an exit
code from ``EXIT_CODES``; nothing is printed as a traceback unless it is a bug.
"""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from corral import __version__
from corral.auth.admin_token import read_admin_token
from corral.cli import output
from corral.cli.logs import configure_logging
from corral.cli.nats import add_node, nats_app
from corral.cli.nodes import nodes_app
from corral.cli.options import (
    DEFAULT_HUB,
    ConfigOpt,
    DataDirOpt,
    HubOpt,
    JsonOpt,
    TokenOpt,
    hub_client,
)
from corral.cli.tasks import agents_app, projects_app, tasks_app
from corral.cli.tokens import token_app
from corral.cli.users import users_app
from corral.cli.workflows import run_command, workflows_app
from corral.config.file import ConfigFile, load_config
from corral.config.importer import import_servers
from corral.config.settings import CLUSTER_NODE_NAME_PATTERN, DEFAULT_PORT, Settings, load_settings
from corral.errors import ConfigError, CorralError, Forbidden, NotFound, Unauthorized, Unavailable
from corral.secrets.redact import redact_text

EXIT_CODES: dict[type[CorralError], int] = {
    ConfigError: 2,
    Unauthorized: 3,
    Forbidden: 3,
    NotFound: 4,
    Unavailable: 5,
}
DEFAULT_CONFIG = Path("corral.yaml")
NatsCredentialsOpt = Annotated[
    Path | None,
    typer.Option(
        "--nats-credentials",
        help="The NATS credential to sign in with, from `corral nats config` "
        "(also hub.cluster.credentials_file).",
    ),
]
NatsOpt = Annotated[
    str | None,
    typer.Option(
        "--nats",
        help="NATS server of a scale-out deployment, e.g. nats://127.0.0.1:4222 (also hub.nats_url, "
        "CORRAL_NATS_URL).",
    ),
]

app = typer.Typer(
    help="Corral: one hub for a fleet of MCP servers.", no_args_is_help=True, add_completion=False
)
servers_app = typer.Typer(help="Inspect and control the servers of a running hub.", no_args_is_help=True)
db_app = typer.Typer(help="Manage the store.", no_args_is_help=True)
app.add_typer(servers_app, name="servers")
app.add_typer(db_app, name="db")
app.add_typer(workflows_app, name="workflows")
app.add_typer(tasks_app, name="tasks")
app.add_typer(agents_app, name="agents")
app.add_typer(projects_app, name="projects")
app.add_typer(users_app, name="users")
app.add_typer(token_app, name="token")
app.add_typer(nodes_app, name="nodes")
app.add_typer(nats_app, name="nats")
nodes_app.command("add")(add_node)
app.command("run")(run_command)


def main() -> None:
    try:
        app()
    except (CorralError, BaseExceptionGroup) as raised:
        error = _sole_error(raised)
        if error is None:
            raise
        output.error(redact_text(error.message))
        sys.exit(_exit_code(error))


def _sole_error(raised: BaseException) -> CorralError | None:
    """The CorralError that ended the command, also when it left the hub's task groups wrapped in them."""
    while isinstance(raised, BaseExceptionGroup) and len(raised.exceptions) == 1:
        raised = raised.exceptions[0]
    return raised if isinstance(raised, CorralError) else None


def _exit_code(error: CorralError) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def _version(value: bool) -> None:
    if value:
        output.line(f"corral {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Corral: one hub for a fleet of MCP servers."""


def _resolve(config: Path | None, flags: dict[str, Any]) -> tuple[Settings, ConfigFile]:
    """Load the config file and the settings. Raises: ConfigError."""
    path = config if config is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    file = load_config(path) if path is not None else ConfigFile(path=None)
    try:
        settings = load_settings({**flags, "config": path}, file.hub)
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(part) for part in error["loc"])
        where = f"{path}: hub.{key}" if path else key
        raise ConfigError(f"{where}: {error['msg']}") from exc
    return settings, file


@app.command()
def serve(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    host: Annotated[str | None, typer.Option(help="Address to bind [default: 127.0.0.1].")] = None,
    port: Annotated[int | None, typer.Option(help=f"Port to bind [default: {DEFAULT_PORT}].")] = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Store URL (postgresql://...); SQLite when unset.")
    ] = None,
    no_auth: Annotated[
        bool | None, typer.Option("--no-auth", help="No authentication: development only, loopback only.")
    ] = None,
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            "--allowed-host", help="A Host name the MCP endpoints accept besides loopback (repeatable)."
        ),
    ] = None,
    mcp_stateless: Annotated[
        bool | None,
        typer.Option("--mcp-stateless", help="Serve /mcp without sessions (any replica can answer)."),
    ] = None,
    max_request_bytes: Annotated[int | None, typer.Option(help="Largest MCP request body accepted.")] = None,
    log_format: Annotated[str | None, typer.Option(help="'text' or 'json'.")] = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = None,
    node_name: Annotated[
        str | None,
        typer.Option("--node-name", help="Name of the hub's built-in node [default: the host name]."),
    ] = None,
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="A label of the built-in node as key=value (repeatable)."),
    ] = None,
    nats_url: NatsOpt = None,
    nats_credentials: NatsCredentialsOpt = None,
) -> None:
    """Run the hub: supervise the configured servers and serve the API and the MCP endpoints."""
    settings, file = _resolve(
        config,
        {
            "data_dir": data_dir,
            "host": host,
            "port": port,
            "database_url": database_url,
            "no_auth": no_auth,
            "allowed_hosts": tuple(allowed_host) if allowed_host else None,
            "mcp_stateless": mcp_stateless,
            "max_request_bytes": max_request_bytes,
            "log_format": log_format,
            "log_level": log_level and log_level.upper(),
            "node": _node_flags(node_name, label),
            "nats_url": nats_url,
            "cluster": {"credentials_file": nats_credentials} if nats_credentials else None,
        },
    )
    configure_logging(settings.log_format, settings.log_level)
    from corral.cli import running  # the hub's whole stack, loaded only by the commands that run it

    running.serve(settings, file)


@app.command("node")
def node_command(
    nats_url: NatsOpt = None,
    nats_credentials: NatsCredentialsOpt = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="The node's name: letters, digits, '_', '-' [default: the host name]."),
    ] = None,
    config: ConfigOpt = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="A label of the node as key=value (repeatable).")
    ] = None,
    log_format: Annotated[str | None, typer.Option(help="'text' or 'json'.")] = None,
    log_level: Annotated[str | None, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = None,
) -> None:
    """Run a node: this machine's MCP servers (the config's mcpServers), serving a hub over NATS.

    It connects out to NATS only (no port, no store): heartbeats, reports its inventory and servers,
    and runs the calls the hub sends it. Ctrl-C or SIGTERM drains it before it stops.
    """
    settings, file = _resolve(
        config,
        {
            "nats_url": nats_url,
            "cluster": {"credentials_file": nats_credentials} if nats_credentials else None,
            "node": _node_flags(name or _host_node_name(), label),
            "log_format": log_format,
            "log_level": log_level and log_level.upper(),
        },
    )
    if settings.nats_url is None:
        raise ConfigError(
            "a node needs a NATS server: --nats nats://host:4222 (or hub.nats_url, CORRAL_NATS_URL)"
        )
    if not re.match(CLUSTER_NODE_NAME_PATTERN, settings.node.name or ""):
        raise ConfigError(
            f"node name {settings.node.name!r}: 1 to 63 letters, digits, '_' or '-', starting with a letter "
            "or digit (no dots: the name is part of NATS subjects)"
        )
    configure_logging(settings.log_format, settings.log_level)
    from corral.node import process  # the supervisor and NATS, loaded only when a node runs

    process.run(settings, file)


def _host_node_name() -> str:
    """This machine's host name as a node name: what a node name may not hold becomes ``-``."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname()).strip("-_")[:63] or "node"


def _node_flags(name: str | None, labels: list[str] | None) -> dict[str, Any] | None:
    """The ``node`` settings the flags give (merged key by key over the file's). Raises: ConfigError."""
    node: dict[str, Any] = {}
    if name is not None:
        node["name"] = name
    if labels:
        node["labels"] = {}
        for item in labels:
            key, equals, value = item.partition("=")
            if not equals or not key:
                raise ConfigError(f"--label {item!r}: write key=value")
            node["labels"][key] = value
    return node or None


@app.command("mcp")
def mcp_command(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    hub: Annotated[
        str | None,
        typer.Option(
            "--hub", help="Bridge to a running hub at this URL instead of running one in this process."
        ),
    ] = None,
    token: TokenOpt = None,
    log_level: Annotated[str, typer.Option(help="Level of what goes to stderr.")] = "WARNING",
) -> None:
    """Serve the fleet as one MCP server on stdin/stdout (for clients that launch a command).

    Without --hub it runs a hub in this process from the config (no HTTP listener);
    with --hub it relays to that hub's /mcp endpoint.
    """
    from corral.cli import running  # the hub's whole stack, loaded only by the commands that run it

    if hub is not None:
        client_token = token or read_admin_token((data_dir or Path(".corral")) / "admin.token")
        configure_logging("text", log_level.upper())
        running.bridge(hub.rstrip("/") + "/mcp", client_token)
        return
    settings, file = _resolve(config, {"data_dir": data_dir, "log_level": log_level.upper()})
    configure_logging("text", settings.log_level)
    running.serve_mcp_stdio(settings, file)


@servers_app.command("list")
def servers_list(
    hub: HubOpt = DEFAULT_HUB, token: TokenOpt = None, data_dir: DataDirOpt = None, json_out: JsonOpt = False
) -> None:
    """List servers with status, circuit, restarts and tools."""
    body = hub_client(hub, token, data_dir).every("/api/v1/servers")
    output.json_or(json_out, body, lambda: output.servers_table(body["items"]))


@servers_app.command("show")
def servers_show(
    name: str,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Everything the hub knows about one server."""
    body = hub_client(hub, token, data_dir).get(f"/api/v1/servers/{name}")
    output.json_or(json_out, body, lambda: output.server_details(body))


@servers_app.command("logs")
def servers_logs(
    name: str,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Most recent lines.")] = 100,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """The tail of a stdio server's stderr, as the hub captured it."""
    body = hub_client(hub, token, data_dir).get(f"/api/v1/servers/{name}/logs", limit=limit)
    output.json_or(json_out, body, lambda: output.log_lines(body["lines"]))


def _action(name: str, verb: str, hub: str, token: str | None, data_dir: Path | None, json_out: bool) -> None:
    body = hub_client(hub, token, data_dir).post(f"/api/v1/servers/{name}/{verb}")
    output.json_or(json_out, body, lambda: output.line(f"{name}: {verb} requested; status {body['status']}"))


@servers_app.command("restart")
def servers_restart(
    name: str,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Restart a server now (also gives its circuit a fresh start)."""
    _action(name, "restart", hub, token, data_dir, json_out)


@servers_app.command("enable")
def servers_enable(
    name: str,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Enable a server."""
    _action(name, "enable", hub, token, data_dir, json_out)


@servers_app.command("disable")
def servers_disable(
    name: str,
    hub: HubOpt = DEFAULT_HUB,
    token: TokenOpt = None,
    data_dir: DataDirOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Disable a server and stop its process."""
    _action(name, "disable", hub, token, data_dir, json_out)


@app.command("import")
def import_command(
    source: Annotated[Path, typer.Argument(help="Claude Desktop, Claude Code (.mcp.json) or Cursor config.")],
    into: Annotated[Path, typer.Option("--into", help="Corral config file to merge into.")] = DEFAULT_CONFIG,
    replace: Annotated[bool, typer.Option("--replace", help="Replace servers that already exist.")] = False,
) -> None:
    """Merge an MCP client's mcpServers into Corral's config file."""
    report = import_servers(source, into, replace=replace)
    output.import_report(report, into)


@db_app.command("backup")
def db_backup(
    target: Annotated[Path, typer.Argument(help="The backup file to write (.tar.gz); it must not exist.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Store URL; SQLite when unset.")
    ] = None,
    without_keys: Annotated[
        bool, typer.Option("--without-keys", help="Leave secrets.key and jwt.key out (keep them elsewhere).")
    ] = False,
) -> None:
    """Back up the store while the hub runs, with the keys it needs (see docs/operations.md)."""
    settings, _ = _resolve(config, {"data_dir": data_dir, "database_url": database_url})
    from corral.db import backup  # the store's stack, loaded only by the commands that use it

    report = backup.backup(settings.store_url, settings.data_dir, target, keys=not without_keys)
    keys = ", ".join(report.keys) or "no keys"
    output.line(f"backed up the {report.store} store and {keys} to {report.path} ({report.bytes} bytes)")


@db_app.command("restore")
def db_restore(
    source: Annotated[Path, typer.Argument(help="A backup made by `corral db backup`.")],
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Store URL (an empty database); SQLite when unset.")
    ] = None,
) -> None:
    """Restore a backup into an empty data directory (and, for PostgreSQL, an empty database)."""
    settings, _ = _resolve(config, {"data_dir": data_dir, "database_url": database_url})
    from corral.db import backup  # the store's stack, loaded only by the commands that use it

    report = backup.restore(source, settings.store_url, settings.data_dir)
    keys = ", ".join(report.keys) or "no keys"
    output.line(f"restored the {report.store} store and {keys} into {settings.data_dir}")


@db_app.command("upgrade")
def db_upgrade(
    config: ConfigOpt = None,
    data_dir: DataDirOpt = None,
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="Store URL; SQLite when unset.")
    ] = None,
) -> None:
    """Apply pending migrations to the store (the hub also does this on start)."""
    settings, _ = _resolve(config, {"data_dir": data_dir, "database_url": database_url})
    from corral.cli import running  # the hub's whole stack, loaded only by the commands that run it

    output.line(f"store at revision {running.upgrade_store(settings.store_url)}")
