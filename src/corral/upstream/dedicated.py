"""One upstream session per downstream client, for stateful servers (``session: per_client``).

The server's shared session stays the one the supervisor probes and lists;
dedicated sessions only carry the calls of one downstream client each. They
open on that client's first call and close when it disconnects, when the
server is restarted or disabled, or when the hub stops.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import anyio
from anyio.abc import TaskGroup
from mcp.client.session import IncomingMessage

from corral.errors import Unavailable
from corral.registry.models import ServerSpec
from corral.upstream.connection import UpstreamClient, open_client
from corral.upstream.logs import LogBuffer
from corral.upstream.relay import Relay

logger = logging.getLogger(__name__)


@dataclass
class _Session:
    relay: Relay
    ready: anyio.Event = field(default_factory=anyio.Event)
    close: anyio.Event = field(default_factory=anyio.Event)
    client: UpstreamClient | None = None
    error: str = ""


class DedicatedSessions:
    def __init__(self, spec: Callable[[], ServerSpec], logs: LogBuffer, now: Callable[[], datetime]) -> None:
        self._spec = spec
        self._logs = logs
        self._now = now
        self._sessions: dict[object, _Session] = {}
        self._tg: TaskGroup | None = None

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        async with anyio.create_task_group() as tg:
            self._tg = tg
            task_status.started()
            try:
                await anyio.sleep_forever()
            finally:
                self._tg = None
                tg.cancel_scope.cancel()

    async def client_for(self, key: object, connect_timeout_s: float) -> tuple[UpstreamClient, Relay]:
        """The session of downstream client ``key``, opened on first use.

        Raises:
            Unavailable: the session could not be opened in time.
        """
        session = self._sessions.get(key)
        if session is None:
            if self._tg is None:
                raise Unavailable(f"server {self._spec().name!r}: the hub is stopping")
            spec = self._spec()
            session = _Session(Relay(spec.name, self._logs, self._now))
            self._sessions[key] = session
            self._tg.start_soon(self._own, key, session, name=f"session:{spec.name}")
        with anyio.move_on_after(connect_timeout_s):
            await session.ready.wait()
        if session.client is None:
            raise Unavailable(
                f"server {self._spec().name!r}: no session for this client: {session.error or 'timed out'}",
                server=self._spec().name,
            )
        return session.client, session.relay

    def release(self, key: object) -> None:
        session = self._sessions.pop(key, None)
        if session is not None:
            session.close.set()

    def release_all(self) -> None:
        for key in list(self._sessions):
            self.release(key)

    async def _own(self, key: object, session: _Session) -> None:
        spec = self._spec()
        try:
            async with open_client(
                spec,
                logs=self._logs,
                now=self._now,
                on_process=lambda _process: None,
                handlers=session.relay.handlers(self._on_message),
                read_timeout_s=spec.call_timeout_s or 60.0,
            ) as client:
                session.client = client
                session.ready.set()
                await session.close.wait()
        except* Exception as group:
            session.error = str(group.exceptions[0])
            logger.info("a dedicated session of %s ended: %s", spec.name, session.error)
        finally:
            session.client = None
            session.ready.set()
            if self._sessions.get(key) is session:
                del self._sessions[key]

    async def _on_message(self, message: IncomingMessage) -> None:
        # The shared session follows the server's catalog; dedicated ones only carry calls.
        return None
