"""The commands that run a hub or its store: ``serve``, ``mcp`` and ``db upgrade``.

Kept apart from ``cli/main.py`` because they need the hub's whole stack (FastAPI, the MCP SDK,
SQLAlchemy, Alembic), which takes seconds to import; the client commands start without it.
"""

from __future__ import annotations

import logging
import shlex
import signal
import sys
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import anyio

from corral import __version__
from corral.app import Hub, Listening, is_loopback
from corral.cli import output
from corral.cli.options import DEFAULT_HUB
from corral.config.file import ConfigFile
from corral.config.settings import Settings
from corral.db.engine import open_database
from corral.db.migrate import current_revision, upgrade
from corral.gateway.stdio import bridge_stdio, serve_stdio

logger = logging.getLogger(__name__)

T = TypeVar("T")


def serve(settings: Settings, file: ConfigFile) -> None:
    """Run the hub with its HTTP listener until SIGINT or SIGTERM."""
    _run(_serve, Hub(settings, file))


def serve_mcp_stdio(settings: Settings, file: ConfigFile) -> None:
    """Run a hub without a listener and serve its fleet endpoint on stdin/stdout."""
    _run(_serve_mcp_stdio, Hub(settings, file))


def bridge(url: str, token: str | None) -> None:
    """Relay stdin/stdout to a running hub's ``/mcp``."""
    _run(bridge_stdio, url, token)


def upgrade_store(store_url: str) -> str | None:
    """Apply pending migrations; the store's revision after them."""

    async def run() -> str | None:
        database = open_database(store_url)
        try:
            await upgrade(database)
            return await current_revision(database)
        finally:
            await database.close()

    return _run(run)


def _run(main: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``main`` on uvloop's event loop where it exists (not on Windows).

    A tool call through the hub crosses some 25 event-loop iterations between its two sockets; uvloop makes
    each cheaper (docs/design.md).
    """
    return anyio.run(main, *args, backend_options={"use_uvloop": sys.platform != "win32"})


async def _serve(hub: Hub) -> None:
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with anyio.create_task_group() as tg:
            listening = await tg.start(hub.run)
            assert listening is not None
            if hub.settings.no_auth:
                logger.warning(
                    "!! AUTHENTICATION IS OFF (--no-auth): anyone who can reach %s controls this hub !!",
                    listening.url,
                )
            else:
                logger.info("admin token in %s", hub.settings.admin_token_path)
            # Not through logging, which masks tokens (rightly): this line is for the person who started it.
            # JSON logs are for collectors, which keep what they read: the link then carries no token.
            signed_in = hub.settings.log_format != "json"
            output.link("dashboard", dashboard_link(listening, hub.admin_token if signed_in else None))
            logger.info(
                "Corral %s serving %d server(s) at %s (API %s/api/v1)",
                __version__,
                len(hub.supervisor.runners()),
                listening.url,
                listening.url,
            )
            tg.start_soon(_tell_when_ready, hub, listening.url)
            async for received in signals:
                logger.info(
                    "received %s: stopping every server and shutting down", signal.Signals(received).name
                )
                break
            tg.cancel_scope.cancel()
    logger.info("stopped")


async def _tell_when_ready(hub: Hub, url: str) -> None:
    """Once the servers had their first start, the last lines a person sees: where, and what next."""
    await hub.wait_ready(hub.live_settings.current.connect_timeout_s)
    runners = hub.supervisor.runners()
    serving = sum(runner.state.status.serving for runner in runners)
    logger.info("ready at %s: %d of %d server(s) serving", url, serving, len(runners))
    command = [sys.argv[0] if sys.argv[0].startswith(".") else "corral", "servers", "list"]
    if url != DEFAULT_HUB:
        command += ["--hub", url]
    if hub.settings.data_dir != Settings.model_fields["data_dir"].default:
        command += ["--data-dir", str(hub.settings.data_dir)]
    token = "" if hub.settings.no_auth else f" (token in {hub.settings.admin_token_path})"
    logger.info("next: `%s`; MCP clients connect to %s/mcp%s", shlex.join(command), url, token)


def dashboard_link(listening: Listening, admin_token: str | None) -> str:
    """The dashboard's address; on a loopback address, signed in as the local admin.

    The admin token goes in the URL's fragment, which a browser never sends: it reaches no access log
    and no Referer, and the page swaps it for a session at once and wipes it from the address bar.
    On any other address the link carries no token (logs may travel): sign in with a user or the token.
    """
    if admin_token is None or not is_loopback(listening.host):
        return f"{listening.url}/"
    return f"{listening.url}/#token={quote(admin_token, safe='')}"


async def _serve_mcp_stdio(hub: Hub) -> None:
    async with anyio.create_task_group() as tg:
        await tg.start(partial(hub.run, http=False))
        # Clients list tools right after they start us: give the servers their first start first.
        if not await hub.wait_ready(hub.live_settings.current.connect_timeout_s):
            logger.warning("serving before every server is up; clients hear when their tools arrive")
        await serve_stdio(hub.gateway.fleet.server)
        tg.cancel_scope.cancel()
