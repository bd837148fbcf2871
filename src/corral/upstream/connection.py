"""Opening one MCP client session to an upstream server, stdio or Streamable HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client._transport import TransportStreams
from mcp.client.session import ElicitationFnT, ListRootsFnT, LoggingFnT, MessageHandlerFnT, SamplingFnT
from mcp.client.streamable_http import streamable_http_client

from corral import __version__
from corral.registry.models import ServerSpec, Transport
from corral.upstream.http import http_transport
from corral.upstream.keepalive import keepalive_transport
from corral.upstream.lane import CallLane
from corral.upstream.logs import LogBuffer
from corral.upstream.stdio import StdioProcess, stdio_transport

CLIENT_NAME = "corral"
CONNECT_TIMEOUT_S = 30.0


class UpstreamClient(Client):
    """The SDK client of one upstream session, with its transport's lane for calls when it has one."""

    lane: CallLane | None = None


@dataclass(frozen=True)
class UpstreamHandlers:
    """What the hub does with what an upstream sends on its own: notifications and requests."""

    message: MessageHandlerFnT
    logging: LoggingFnT
    sampling: SamplingFnT
    elicitation: ElicitationFnT
    list_roots: ListRootsFnT


def open_client(
    spec: ServerSpec,
    *,
    logs: LogBuffer,
    now: Callable[[], datetime],
    on_process: Callable[[StdioProcess], None],
    handlers: UpstreamHandlers,
    read_timeout_s: float,
) -> AbstractAsyncContextManager[UpstreamClient]:
    """The session to ``spec``'s server; entering it starts the server (stdio) and shakes hands.

    Requests carry no SDK-level timeout: every caller bounds its own wait.

    Raises (on entering):
        OSError: a stdio command cannot be run.
        Exception groups from the SDK when the connection or handshake fails.
    """
    return _client(spec, logs, now, on_process, handlers, read_timeout_s)


@asynccontextmanager
async def _client(
    spec: ServerSpec,
    logs: LogBuffer,
    now: Callable[[], datetime],
    on_process: Callable[[StdioProcess], None],
    handlers: UpstreamHandlers,
    read_timeout_s: float,
) -> AsyncIterator[UpstreamClient]:
    async with _transport(spec, logs, now, on_process, read_timeout_s) as (streams, lane):
        client = UpstreamClient(
            OpenStreams(streams),
            mode=spec.protocol,
            cache=None,
            message_handler=handlers.message,
            logging_callback=handlers.logging,
            sampling_callback=handlers.sampling,
            elicitation_callback=handlers.elicitation,
            list_roots_callback=handlers.list_roots,
            client_info=types.Implementation(name=CLIENT_NAME, version=__version__),
        )
        client.lane = lane
        async with client:
            yield client


@asynccontextmanager
async def _transport(
    spec: ServerSpec,
    logs: LogBuffer,
    now: Callable[[], datetime],
    on_process: Callable[[StdioProcess], None],
    read_timeout_s: float,
) -> AsyncIterator[tuple[TransportStreams, CallLane | None]]:
    if spec.transport is Transport.STDIO:
        assert spec.command is not None
        async with stdio_transport(
            spec.command, spec.args, spec.env, spec.cwd, logs, now, on_process
        ) as streams_and_lane:
            yield streams_and_lane
        return
    assert spec.url is not None
    read_timeout_s = max(read_timeout_s, 30.0) + 5.0
    if spec.protocol == "legacy" and not _proxied(spec.url):
        async with http_transport(
            spec.url, spec.headers, connect_timeout_s=CONNECT_TIMEOUT_S, read_timeout_s=read_timeout_s
        ) as streams_and_lane:
            yield streams_and_lane
        return
    timeout = httpx2.Timeout(CONNECT_TIMEOUT_S, read=read_timeout_s)
    async with (
        httpx2.AsyncClient(headers=spec.headers, timeout=timeout, transport=keepalive_transport()) as http,
        streamable_http_client(spec.url, http_client=http) as streams,
    ):
        yield streams, None


def _proxied(url: str) -> bool:
    """Whether the environment sends requests to ``url`` through a proxy (only the SDK transport can)."""
    parts = urlsplit(url)
    return parts.scheme in getproxies() and not proxy_bypass(parts.hostname or "")


class OpenStreams:
    """Hands already-open streams to ``Client``, which expects a transport to enter."""

    def __init__(self, streams: TransportStreams) -> None:
        self._streams = streams

    async def __aenter__(self) -> TransportStreams:
        return self._streams

    async def __aexit__(self, *_: object) -> None:
        return None
