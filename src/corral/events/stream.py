"""One WebSocket client of the event stream: catch-up, live events, keepalive and limits.

On connect the client gets a snapshot of what it follows, or, resuming with
``last_event_id``, every event it missed (or a ``reset`` and a new snapshot
when those are no longer kept); then stored events as they come, in id order.
The hub pings on an interval and answers the client's pings; a client that
sends nothing for the idle timeout, sends too much or too fast, or does not
read fast enough is closed with a code that says why. Authentication, the
parsing of the request and what a snapshot holds are the route's business.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import aclosing
from typing import Any

import anyio
from starlette.websockets import WebSocket, WebSocketDisconnect

from corral.clock import Clock
from corral.config.settings import EventStreamSettings
from corral.events.log import CutOff, EventLog, Follower, ReplayGap
from corral.events.models import Event
from corral.events.ratelimit import TokenBucket
from corral.events.topics import TopicFilter

logger = logging.getLogger(__name__)

# Close codes: the standard ones where they fit, 4000 + an HTTP status where they do not.
CLOSE_GOING_AWAY = 1001
CLOSE_INTERNAL = 1011
CLOSE_TOO_BIG = 1009
CLOSE_BAD_REQUEST = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_IDLE = 4408
CLOSE_TOO_MANY = 4429
CLOSE_SLOW = 4503

_CUT_OFF_CODES = {CutOff.SLOW: CLOSE_SLOW, CutOff.LOST: CLOSE_INTERNAL, CutOff.SHUTDOWN: CLOSE_GOING_AWAY}
MAX_REASON_BYTES = 123  # what fits in a close frame
MAX_BATCH = 100

Snapshot = Callable[[TopicFilter], Awaitable[dict[str, Any]]]
StillValid = Callable[[], Awaitable[bool]]


class ClientStream:
    def __init__(
        self,
        websocket: WebSocket,
        log: EventLog,
        settings: EventStreamSettings,
        clock: Clock,
        snapshot: Snapshot,
        still_valid: StillValid | None = None,
        *,
        batch: bool = False,
    ) -> None:
        self._ws = websocket
        self._log = log
        self._settings = settings
        self._clock = clock
        self._snapshot = snapshot
        self._still_valid = still_valid
        self._batch = batch
        self._send_lock = anyio.Lock(fast_acquire=True)
        self._scope = anyio.CancelScope()
        self._close_with: tuple[int, str] | None = None
        self._gone = False
        self._heard_at = clock.monotonic()
        self.sent_id = 0
        """The id of the last event sent to this client."""

    async def run(self, topics: TopicFilter, last_event_id: int | None) -> None:
        """Serve an accepted socket until either side ends it."""
        async with self._log.follow(self._settings.client_buffer_events, topics) as follower:
            with self._scope:
                async with anyio.create_task_group() as tg:
                    tg.start_soon(self._read)
                    tg.start_soon(self._keepalive)
                    tg.start_soon(self._watch, follower)
                    self.sent_id = last_event_id or 0
                    await self._catch_up(follower.head, last_event_id, topics)
                    await self._forward(follower)
                    self._close_for(follower)
        if self._close_with is not None and not self._gone:
            code, reason = self._close_with
            with anyio.move_on_after(self._settings.send_timeout_s):
                try:
                    await self._ws.close(code, _fit(reason))
                except WebSocketDisconnect:
                    pass

    def close(self, code: int, reason: str) -> None:
        """Close with ``code`` (the first reason wins); the socket closes once every task has stopped."""
        if self._close_with is None:
            self._close_with = (code, reason)
        self._scope.cancel()

    # -- to the client ---------------------------------------------------------------------------

    async def _catch_up(self, head: int, last_event_id: int | None, topics: TopicFilter) -> None:
        if last_event_id is None:
            await self._send_snapshot(head, topics)
            return
        try:
            async with aclosing(self._log.replay(last_event_id, head, topics)) as batches:
                async for batch in batches:
                    await self._send_events(batch)
        except ReplayGap as gap:
            await self._send_json({"type": "reset", "reason": gap.message})
            await self._send_snapshot(head, topics)

    async def _forward(self, follower: Follower) -> None:
        async for event in follower.events:
            # What is already waiting goes out without a trip through the event loop for each.
            await self._send_events([event, *self._waiting(follower)])

    async def _send_events(self, events: list[Event]) -> None:
        if not self._batch:
            for event in events:
                await self._send(event.wire)
                self.sent_id = event.id
            return
        for start in range(0, len(events), MAX_BATCH):
            chunk = events[start : start + MAX_BATCH]
            await self._send(_batched(chunk))
            self.sent_id = chunk[-1].id

    async def _send_snapshot(self, head: int, topics: TopicFilter) -> None:
        state = await self._snapshot(topics)
        await self._send_json(
            {
                "type": "snapshot",
                "last_event_id": head,
                "topics": topics.describe(),
                **({"types": topics.describe_types()} if topics.by_type else {}),
                **state,
            }
        )
        self.sent_id = head

    async def _send_json(self, message: dict[str, Any]) -> None:
        await self._send(json.dumps(message, separators=(",", ":"), default=str))

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            if self._gone or self._close_with is not None:
                return  # ending: the lock may have been taken without a checkpoint to cancel it
            try:
                await self._ws.send_text(text)
            except WebSocketDisconnect:
                self._gone = True
                self._scope.cancel()

    def _waiting(self, follower: Follower) -> list[Event]:
        """The events already waiting for this client, up to ``MAX_BATCH`` with the one in hand."""
        waiting: list[Event] = []
        while len(waiting) < MAX_BATCH - 1:
            try:
                waiting.append(follower.events.receive_nowait())
            except (anyio.WouldBlock, anyio.EndOfStream):
                break
        return waiting

    async def _watch(self, follower: Follower) -> None:
        # Without this a client that stopped reading would hold its sender in send() forever.
        await follower.cut_off.wait()
        self._close_for(follower)

    def _close_for(self, follower: Follower) -> None:
        why = follower.why or CutOff.SHUTDOWN
        reason = follower.reason
        if why is CutOff.SLOW:
            reason += f"; resume with last_event_id={self.sent_id}"
            logger.info("event stream: closing a slow consumer (%s)", reason)
        self.close(_CUT_OFF_CODES[why], reason)

    async def _keepalive(self) -> None:
        settings = self._settings
        next_ping = self._clock.monotonic() + settings.ping_interval_s
        while True:
            now = self._clock.monotonic()
            idle_deadline = self._heard_at + settings.idle_timeout_s
            if now >= idle_deadline:
                self.close(CLOSE_IDLE, f"idle: nothing from the client in {settings.idle_timeout_s:g} s")
                return
            if now >= next_ping:
                if self._still_valid is not None and not await self._still_valid():
                    self.close(CLOSE_UNAUTHORIZED, "the token expired or was revoked")
                    return
                # A client that reads nothing blocks sends; past the send timeout that makes it slow too.
                with anyio.move_on_after(settings.send_timeout_s) as sending:
                    await self._send_json({"type": "ping", "time": self._clock.now().isoformat()})
                if sending.cancelled_caught:
                    self.close(
                        CLOSE_SLOW,
                        f"slow consumer: nothing could be sent for {settings.send_timeout_s:g} s; "
                        f"resume with last_event_id={self.sent_id}",
                    )
                    return
                next_ping = self._clock.monotonic() + settings.ping_interval_s
            await anyio.sleep(min(next_ping, idle_deadline) - now)

    # -- from the client -------------------------------------------------------------------------

    async def _read(self) -> None:
        settings = self._settings
        bucket = TokenBucket(
            settings.max_messages_per_s, max(1.0, settings.max_messages_per_s), self._heard_at
        )
        while True:
            message = await self._ws.receive()
            if message["type"] == "websocket.disconnect":
                self._gone = True
                self._scope.cancel()
                return
            self._heard_at = now = self._clock.monotonic()
            text: str | None = message.get("text")
            size = len(text.encode()) if text is not None else len(message.get("bytes") or b"")
            if size > settings.max_message_bytes:
                self.close(
                    CLOSE_TOO_BIG, f"message too big: {size} bytes, at most {settings.max_message_bytes}"
                )
                return
            if not bucket.take(now):
                self.close(
                    CLOSE_TOO_MANY, f"too many messages: at most {settings.max_messages_per_s:g} per second"
                )
                return
            await self._answer(text)

    async def _answer(self, text: str | None) -> None:
        try:
            message = json.loads(text) if text is not None else None
        except ValueError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "ping":
            assert isinstance(message, dict)
            await self._send_json(
                {"type": "pong", **({"data": message["data"]} if "data" in message else {})}
            )
        elif kind != "pong":
            await self._send_json(
                {
                    "type": "error",
                    "message": 'expected a JSON text message {"type": "ping"} or {"type": "pong"}',
                }
            )


def _batched(events: list[Event]) -> str:
    if len(events) == 1:
        return events[0].wire
    return '{"type":"events","events":[' + ",".join(event.wire for event in events) + "]}"


def _fit(reason: str) -> str:
    encoded = reason.encode()
    if len(encoded) <= MAX_REASON_BYTES:
        return reason
    return encoded[: MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."
