"""The hub's side of calls to servers on other nodes: send each call, relay its progress, take its outcome.

A call is an ``Assignment`` published to its node's work subject (deduplicated by its id) and a waiter
here that receives, in order, the node's progress notes (core NATS, best effort: a waiter that falls
behind skips some) and one ending: the node's ``Outcome`` (pulled from ``CORRAL_RESULTS``, acked once
handed over), or the node's loss (``node_lost``, from the membership). The wait is bounded by the call's
deadline plus the node TTL, and restarts with every progress note, as a local call's does. A call that
ends without the node's outcome (the caller cancelled, time ran out, the node was lost) has the node told
to cancel it: a lost node that comes back finds the order waiting.

The store, not this module, is the record of tasks: an outcome that comes when nobody waits for it (the
attempt already ended because its node was lost, or timed out) is dropped here, and the task's attempt
number would reject it anyway.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import anyio
import mcp_types as types
import nats.errors
from anyio.streams.memory import MemoryObjectSendStream
from mcp.shared.dispatcher import ProgressFnT
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from corral.clock import Clock
from corral.cluster.nats import fabric
from corral.cluster.nats.wire import (
    Assignment,
    Control,
    Outcome,
    ProgressNote,
    WireError,
    decode,
    encode,
)
from corral.config.settings import ClusterSettings
from corral.errors import Unavailable, UpstreamError, UpstreamTimeout

logger = logging.getLogger(__name__)

PROGRESS_BUFFER = 64
"""Progress notes waiting for a slow caller before newer ones are skipped."""
ORDERS_BUFFER = 1000
FETCH_WAIT_S = 5.0
RESULTS_ACK_WAIT_S = 10.0


@dataclass(frozen=True)
class NodeGone:
    reason: str


Arrival = ProgressNote | Outcome | NodeGone


@dataclass(frozen=True)
class _Waiter:
    node: str
    send: MemoryObjectSendStream[Arrival]


class RemoteCalls:
    def __init__(self, client: Client, js: JetStreamContext, settings: ClusterSettings, clock: Clock) -> None:
        self._client = client
        self._js = js
        self._settings = settings
        self._clock = clock
        self._waiters: dict[str, _Waiter] = {}
        self._orders, self._order_queue = anyio.create_memory_object_stream[tuple[str, Control]](
            ORDERS_BUFFER
        )

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Relay progress and outcomes to the waiting calls, and orders to the nodes, until cancelled.

        Raises: FabricUnavailable — the subscriptions could not be made.
        """
        try:
            progress = await self._client.subscribe(fabric.PROGRESS_ALL)
            results = await self._js.pull_subscribe(
                fabric.RESULTS_ALL,
                durable=fabric.HUB_CONSUMER,
                stream=fabric.RESULTS_STREAM,
                config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=RESULTS_ACK_WAIT_S),
            )
        except fabric.NatsErrors as exc:
            raise fabric.unavailable("cannot subscribe to the nodes' answers", exc) from exc
        try:
            async with self._orders, self._order_queue, anyio.create_task_group() as tg:
                tg.start_soon(self._relay_progress, progress)
                tg.start_soon(self._take_outcomes, results)
                tg.start_soon(self._send_orders)
                task_status.started()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._settings.request_timeout_s):
                await progress.unsubscribe()
                await results.unsubscribe()

    # -- asking --------------------------------------------------------------------------------------

    async def call(
        self,
        node: str,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        *,
        meta: dict[str, Any] | None,
        deadline_s: float,
        report: ProgressFnT | None,
    ) -> types.CallToolResult:
        """Run ``tool`` of ``server`` on ``node`` and wait for its outcome.

        Raises: Unavailable (NATS cannot take the call; the node was lost during it), UpstreamTimeout,
        and whatever error the node met, as its class (UpstreamError for an answer that makes no sense).
        """
        call_id = "c_" + uuid.uuid4().hex
        label = f"{node}.{server}"
        grace = self._settings.node_ttl_s + self._settings.request_timeout_s
        assignment = Assignment(
            call_id=call_id,
            server=server,
            tool=tool,
            arguments=arguments,
            meta=meta,
            deadline_s=deadline_s,
            expires_at=self._clock.now() + timedelta(seconds=deadline_s + grace),
        )
        send, receive = anyio.create_memory_object_stream[Arrival](PROGRESS_BUFFER + 2)
        self._waiters[call_id] = _Waiter(node, send)
        sent = answered = False
        try:
            with send, receive:
                await self._publish(node, assignment)
                sent = True
                with anyio.CancelScope(deadline=anyio.current_time() + deadline_s + grace) as waiting:
                    async for arrival in receive:
                        if isinstance(arrival, ProgressNote):
                            waiting.deadline = anyio.current_time() + deadline_s + grace
                            if report is not None:
                                await report(arrival.progress, arrival.total, arrival.message)
                            continue
                        # A lost node may come back still holding the call: it is told to cancel it.
                        answered = isinstance(arrival, Outcome)
                        return self._ending(arrival, label, tool)
            raise UpstreamTimeout(
                f"server {label!r} did not answer {tool!r} within {deadline_s:g}s", server=label
            )
        finally:
            del self._waiters[call_id]
            if sent and not answered:
                self.order(node, "cancel", call_id)

    def order(self, node: str, action: str, target: str) -> None:
        """Send a control order to ``node`` soon (in order, without waiting; dropped when NATS lags far)."""
        try:
            control = Control.model_validate({"action": action, "target": target})
            self._orders.send_nowait((node, control))
        except anyio.WouldBlock:
            logger.warning("too many orders wait for NATS; %s of %s on node %s dropped", action, target, node)
        except anyio.ClosedResourceError:
            logger.warning(
                "the hub no longer speaks to its nodes; %s of %s on node %s dropped", action, target, node
            )

    def node_lost(self, node: str, reason: str) -> None:
        """End every call waiting for ``node``: it will not answer them."""
        for waiter in list(self._waiters.values()):
            if waiter.node == node:
                _hand(waiter, NodeGone(reason))

    @staticmethod
    def _ending(arrival: Outcome | NodeGone, label: str, tool: str) -> types.CallToolResult:
        if isinstance(arrival, NodeGone):
            raise Unavailable(
                f"node {label.partition('.')[0]!r} was lost during {tool!r}: {arrival.reason}", server=label
            )
        try:
            return arrival.unwrap(label)
        except WireError as exc:
            raise UpstreamError(f"server {label!r} answered {tool!r} with {exc}", server=label) from exc

    async def _publish(self, node: str, assignment: Assignment) -> None:
        """Raises: FabricUnavailable."""
        try:
            with anyio.fail_after(self._settings.request_timeout_s):
                await self._js.publish(
                    fabric.work_subject(node),
                    encode(assignment),
                    headers={"Nats-Msg-Id": assignment.call_id},
                    timeout=self._settings.request_timeout_s,
                )
        except fabric.NatsErrors as exc:
            raise fabric.unavailable(f"cannot send the call to node {node!r}", exc) from exc

    # -- what comes back -------------------------------------------------------------------------------

    async def _relay_progress(self, subscription: Subscription) -> None:
        async for message in subscription.messages:
            waiter = self._waiter(*fabric.sender_and_call(message.subject))
            if waiter is None:
                continue
            try:
                note = decode(ProgressNote, message.data)
            except WireError as exc:
                logger.warning("a progress note on %s: %s", message.subject, exc)
                continue
            if waiter.send.statistics().current_buffer_used < PROGRESS_BUFFER:
                _hand(waiter, note)

    async def _take_outcomes(self, results: JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                messages = await results.fetch(1, timeout=FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                continue
            except fabric.NatsErrors as exc:
                logger.warning("cannot take outcomes from NATS now: %s", exc)
                await anyio.sleep(fabric.RECONNECT_WAIT_S)
                continue
            for message in messages:
                await self._take(message)

    async def _take(self, message: Msg) -> None:
        try:
            outcome = decode(Outcome, message.data)
        except WireError as exc:
            logger.warning("an outcome on %s: %s; dropped", message.subject, exc)
            await _settle(message, message.term)
            return
        sender, call_id = fabric.sender_and_call(message.subject)
        waiter = self._waiter(sender, call_id) if call_id == outcome.call_id else None
        if waiter is None:
            logger.info(
                "the outcome of call %s came when nothing waited for it (its node was lost, or it timed "
                "out): dropped",
                outcome.call_id,
            )
        else:
            _hand(waiter, outcome)
        await _settle(message, message.ack)

    def _waiter(self, sender: str, call_id: str) -> _Waiter | None:
        """The call's waiter, if ``sender`` is the node the call went to (another node's word is not
        taken: with per-node credentials it cannot even say it)."""
        waiter = self._waiters.get(call_id)
        if waiter is not None and waiter.node != sender:
            logger.warning(
                "node %s answered call %s, which went to node %s: ignored", sender, call_id, waiter.node
            )
            return None
        return waiter

    async def _send_orders(self) -> None:
        async for node, control in self._order_queue:
            try:
                with anyio.fail_after(self._settings.request_timeout_s):
                    await self._client.publish(fabric.control_subject(node), encode(control))
            except fabric.NatsErrors as exc:
                logger.warning(
                    "cannot send %s of %s to node %s: %s", control.action, control.target, node, exc
                )


def _hand(waiter: _Waiter, arrival: Arrival) -> None:
    try:
        waiter.send.send_nowait(arrival)
    except (anyio.WouldBlock, anyio.BrokenResourceError, anyio.ClosedResourceError):
        pass  # an ending came already (the first one counts), or the caller stopped waiting


async def _settle(message: Msg, how: Callable[[], Awaitable[None]]) -> None:
    try:
        with anyio.fail_after(FETCH_WAIT_S):
            await how()
    except fabric.NatsErrors as exc:
        logger.warning("cannot settle %s with NATS: %s", message.subject, exc)
