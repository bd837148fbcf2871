"""A node's calls: pull them from its work subject, run them on its servers, hand back their outcomes.

One loop pulls one assignment per free slot (``fetch(1)``: nats-py's larger batches can stall) from
the node's durable consumer and runs each call in its own task: through the server's runner (breaker,
concurrency cap, deadline restarted by progress), with progress published as it happens and the claim
on the message renewed every third of the ack wait. The outcome goes to ``CORRAL_RESULTS`` and only then
is the assignment acked: a node that dies before has its call handed out again by NATS, or (sooner)
re-sent by the hub as a new attempt. Cancel orders cancel the call, which the runner turns into MCP
``notifications/cancelled`` upstream. An assignment found after the hub stopped waiting is dropped.

Draining (Ctrl-C, SIGTERM): no new pulls; the calls held get ``drain_timeout_s`` to finish; those that do
not are cancelled and answered ``unavailable``, so the hub runs them elsewhere at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio
import nats.errors
from anyio.abc import TaskGroup
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
from corral.errors import CorralError, NotFound, Unavailable, UnknownTool
from corral.observability import logcontext
from corral.supervisor.supervisor import Supervisor

logger = logging.getLogger(__name__)

FETCH_WAIT_S = 1.0
"""How long one pull waits for work: also how long a drain waits for the pulling loop to notice."""
MAX_DELIVER = 5


class NodeWorker:
    def __init__(
        self,
        name: str,
        client: Client,
        js: JetStreamContext,
        supervisor: Supervisor,
        settings: ClusterSettings,
        clock: Clock,
    ) -> None:
        self._name = name
        self._client = client
        self._js = js
        self._supervisor = supervisor
        self._settings = settings
        self._clock = clock
        self._calls: dict[str, anyio.CancelScope] = {}
        self._draining = False
        self._idle = anyio.Event()
        self._idle.set()

    async def run(self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """Take calls until drained (then return once the calls held are over) or cancelled.

        Raises: FabricUnavailable — the work subject or the control subject cannot be subscribed to.
        """
        try:
            work = await self._js.pull_subscribe(
                fabric.work_subject(self._name),
                durable=fabric.node_consumer(self._name),
                stream=fabric.WORK_STREAM,
                config=ConsumerConfig(
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=self._settings.work_ack_wait_s,
                    max_deliver=MAX_DELIVER,
                    max_ack_pending=self._settings.node_slots,
                ),
            )
            control = await self._client.subscribe(fabric.control_subject(self._name))
        except fabric.NatsErrors as exc:
            raise fabric.unavailable(f"cannot take the work of node {self._name!r}", exc) from exc
        try:
            async with anyio.create_task_group() as orders:
                orders.start_soon(self._obey, control)
                async with anyio.create_task_group() as calls:
                    task_status.started()
                    await self._pull(work, calls)
                orders.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(self._settings.request_timeout_s):
                await control.unsubscribe()
                await work.unsubscribe()

    async def drain(self) -> None:
        """Stop taking calls; wait (``drain_timeout_s`` at most) for those held, then cancel the rest."""
        self._draining = True
        with anyio.move_on_after(self._settings.drain_timeout_s):
            await self._idle.wait()
        for scope in self._calls.values():
            scope.cancel()

    async def _pull(self, work: JetStreamContext.PullSubscription, calls: TaskGroup) -> None:
        slots = anyio.Semaphore(self._settings.node_slots)
        while not self._draining:
            await slots.acquire()
            try:
                messages = await work.fetch(1, timeout=FETCH_WAIT_S)
            except nats.errors.TimeoutError:
                slots.release()
                continue
            except fabric.NatsErrors as exc:
                slots.release()
                logger.warning("cannot take work from NATS now: %s", exc)
                await anyio.sleep(fabric.RECONNECT_WAIT_S)
                continue
            if not messages:
                slots.release()
            for message in messages:
                calls.start_soon(self._take, message, slots)

    async def _take(self, message: Msg, slots: anyio.Semaphore) -> None:
        try:
            assignment = decode(Assignment, message.data)
        except WireError as exc:
            logger.warning("work that is not an assignment: %s; dropped", exc)
            await self._settle(message, message.term)
            slots.release()
            return
        scope = self._calls[assignment.call_id] = anyio.CancelScope()
        self._idle = anyio.Event()
        try:
            with logcontext.bound(server=assignment.server, tool=assignment.tool):
                await self._run(assignment, message, scope)
        finally:
            del self._calls[assignment.call_id]
            if not self._calls:
                self._idle.set()
            slots.release()

    async def _run(self, assignment: Assignment, message: Msg, scope: anyio.CancelScope) -> None:
        if self._clock.now() > assignment.expires_at:
            logger.info("call %s came after its caller stopped waiting: dropped", assignment.call_id)
            await self._settle(message, message.ack)
            return
        outcome: Outcome | None = None
        async with anyio.create_task_group() as claim:
            claim.start_soon(self._keep_claim, message)
            with scope:
                outcome = await self._call(assignment)
            claim.cancel_scope.cancel()
        if outcome is None and self._draining:
            stopped = Unavailable(f"node {self._name!r} stopped before {assignment.tool!r} finished")
            outcome = Outcome.of_error(assignment.call_id, stopped)
        if outcome is None:  # cancelled by the hub, which no longer waits for it
            await self._settle(message, message.ack)
            return
        await self._answer(outcome, message)

    async def _call(self, assignment: Assignment) -> Outcome:
        call_id = assignment.call_id
        try:
            runner = self._supervisor.runner(assignment.server)
        except NotFound:
            return Outcome.of_error(
                call_id, UnknownTool(f"node {self._name!r} has no server {assignment.server!r}")
            )

        async def report(progress: float, total: float | None, message: str | None) -> None:
            note = ProgressNote(progress=progress, total=total, message=message)
            try:
                await self._client.publish(fabric.progress_subject(self._name, call_id), encode(note))
            except fabric.NatsErrors as exc:  # progress is best effort
                logger.debug("progress of %s not sent: %s", call_id, exc)

        try:
            result = await runner.call_tool(
                assignment.tool,
                assignment.arguments,
                timeout_s=assignment.deadline_s,
                progress=report,
                meta=assignment.meta,
            )
        except CorralError as exc:
            return Outcome.of_error(call_id, exc)
        return Outcome.of_result(call_id, result)

    async def _keep_claim(self, message: Msg) -> None:
        """Tell NATS the call still runs, so that it does not hand it to anyone else meanwhile."""
        while True:
            await anyio.sleep(self._settings.work_ack_wait_s / 3)
            await self._settle(message, message.in_progress)

    async def _answer(self, outcome: Outcome, message: Msg) -> None:
        """Store the outcome in NATS, then ack the assignment; if NATS cannot take it, the assignment is
        left unacked, and comes again after the ack wait (the hub may have given up on it by then)."""
        try:
            with anyio.fail_after(self._settings.request_timeout_s):
                await self._js.publish(
                    fabric.result_subject(self._name, outcome.call_id),
                    encode(outcome),
                    headers={"Nats-Msg-Id": outcome.call_id},
                    timeout=self._settings.request_timeout_s,
                )
        except fabric.NatsErrors as exc:
            logger.warning("cannot hand back the outcome of call %s: %s", outcome.call_id, exc)
            return
        await self._settle(message, message.ack)

    async def _obey(self, control: Subscription) -> None:
        async for message in control.messages:
            try:
                order = decode(Control, message.data)
            except WireError as exc:
                logger.warning("an order that is not one: %s; ignored", exc)
                continue
            self._follow(order)

    def _follow(self, order: Control) -> None:
        if order.action == "cancel":
            scope = self._calls.get(order.target)
            if scope is not None:
                logger.info("call %s cancelled by the hub", order.target)
                scope.cancel()
            return
        try:
            runner = self._supervisor.runner(order.target)
        except NotFound:
            logger.warning(
                "the hub asked to %s server %s, which this node does not run", order.action, order.target
            )
            return
        if order.action == "restart":
            runner.request_restart()
        else:
            runner.request_reload()

    async def _settle(self, message: Msg, how: Callable[[], Awaitable[None]]) -> None:
        try:
            with anyio.fail_after(self._settings.request_timeout_s):
                await how()
        except fabric.NatsErrors as exc:
            logger.warning("cannot settle a call with NATS: %s", exc)
