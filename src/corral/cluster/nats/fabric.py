"""The NATS JetStream fabric between a hub and its nodes: names, creation, connection.

NATS carries work and liveness only; the hub's store stays the record of every task and attempt.

- ``CORRAL_WORK`` (work queue): one subject per node, ``corral.work.node.<node>``, pulled by the node's
  durable consumer ``node-<node>``; a node acks a call after its outcome is in ``CORRAL_RESULTS``.
- ``CORRAL_RESULTS`` (work queue): ``corral.result.<node>.<call>``, pulled by the hub's durable consumer.
- ``corral.progress.<node>.<call>`` (core NATS): progress notifications as they happen, best effort.
- ``corral.ctl.node.<node>`` (core NATS): the hub's cancel, restart and reload orders to a node.
- KV bucket ``corral_nodes``: ``hb.<node>`` written every heartbeat with a per-message TTL (its expiry is
  how a dead node is noticed), ``inv.<node>`` the node's inventory and servers, written when they change.

Everything here either returns or raises ``FabricUnavailable`` within its deadline.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType
from pydantic import BaseModel, ConfigDict, ValidationError

from corral.config.settings import ClusterSettings
from corral.errors import ConfigError, FabricUnavailable
from corral.secrets.redact import redact_text

logger = logging.getLogger(__name__)

WORK_STREAM = "CORRAL_WORK"
RESULTS_STREAM = "CORRAL_RESULTS"
NODES_BUCKET = "corral_nodes"
HUB_CONSUMER = "hubs"
PROGRESS_ALL = "corral.progress.*.*"
RESULTS_ALL = "corral.result.*.*"
MAX_MESSAGE_BYTES = 8 * 1024 * 1024
WORK_MAX_AGE_S = 24 * 3600.0
DUPLICATE_WINDOW_S = 120.0
MARKER_TTL_S = 5
"""How long the marker NATS leaves when a heartbeat expires stays readable (what watchers see)."""
REPORT_TTL_S = 3600
"""A node's report outlives its heartbeat by this much: a lost node stays listed (as lost) for an hour."""
RECONNECT_WAIT_S = 0.25
FABRIC_POLL_S = 0.5
"""How often a node started before any hub looks again for the streams."""

NatsErrors = (nats.errors.Error, OSError, TimeoutError)
"""What a NATS request can raise: the client's errors, the server's JetStream errors, the network."""


class Credential(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    user: str
    password: str

    @property
    def inbox(self) -> str:
        """The prefix of this client's reply subjects: its own, so no other client may read its replies."""
        return f"_INBOX_{self.user}"


def read_credential(path: Path) -> Credential:
    """Raises: ConfigError — the file cannot be read or is not a credential."""
    try:
        return Credential.model_validate_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the NATS credential: {exc.strerror}") from exc
    except ValidationError as exc:
        raise ConfigError(f"{path}: not a NATS credential written by `corral nats config`") from exc


def work_subject(node: str) -> str:
    return f"corral.work.node.{node}"


def node_consumer(node: str) -> str:
    return f"node-{node}"


def result_subject(node: str, call_id: str) -> str:
    """Where ``node`` answers a call: the node is in the subject, so that NATS permissions can keep a
    node to its own, and the hub takes an answer only from the node it sent the call to."""
    return f"corral.result.{node}.{call_id}"


def progress_subject(node: str, call_id: str) -> str:
    return f"corral.progress.{node}.{call_id}"


def sender_and_call(subject: str) -> tuple[str, str]:
    """The node and the call of a result or progress subject."""
    _, node, call_id = subject.rsplit(".", 2)
    return node, call_id


def control_subject(node: str) -> str:
    return f"corral.ctl.node.{node}"


def heartbeat_key(node: str) -> str:
    return f"hb.{node}"


def report_key(node: str) -> str:
    return f"inv.{node}"


def kv_subject(key: str) -> str:
    """The subject a key of the nodes bucket is written on (for publishes with a per-message TTL)."""
    return f"$KV.{NODES_BUCKET}.{key}"


def unavailable(what: str, exc: BaseException) -> FabricUnavailable:
    detail = str(exc) or type(exc).__name__
    return FabricUnavailable(f"NATS: {what}: {detail}")


@asynccontextmanager
async def connection(
    url: str,
    name: str,
    settings: ClusterSettings,
    *,
    on_reconnect: Callable[[], Awaitable[None]] | None = None,
) -> AsyncIterator[Client]:
    """A NATS connection that reconnects on its own until closed; closed (bounded) on the way out. With
    ``credentials_file`` it signs in as that user, with replies on the user's own inbox.

    Raises: FabricUnavailable — no connection within ``connect_timeout_s`` (or refused: wrong credential);
    ConfigError — the credential file cannot be read.
    """
    shown = redact_text(url)

    errors: list[Exception] = []

    async def error(exc: Exception) -> None:
        # While NATS is away this comes every reconnect attempt: logged quietly, disconnected() says it once.
        errors[:] = [exc]  # the latest says why a first connection does not come
        logger.debug("NATS at %s: %s", shown, exc)

    async def disconnected() -> None:
        logger.warning("disconnected from NATS at %s; reconnecting", shown)

    async def reconnected() -> None:
        logger.info("reconnected to NATS at %s", shown)
        if on_reconnect is not None:
            await on_reconnect()

    credential = read_credential(settings.credentials_file) if settings.credentials_file else None
    signed = (
        {"user": credential.user, "password": credential.password, "inbox_prefix": credential.inbox}
        if credential
        else {}
    )
    try:
        with anyio.fail_after(settings.connect_timeout_s):
            client = await nats.connect(
                url,
                name=name,
                **signed,
                connect_timeout=settings.connect_timeout_s,
                reconnect_time_wait=RECONNECT_WAIT_S,
                max_reconnect_attempts=-1,
                error_cb=error,
                disconnected_cb=disconnected,
                reconnected_cb=reconnected,
            )
    except NatsErrors as exc:
        raise unavailable(f"cannot connect to {shown}", errors[0] if errors else exc) from exc
    try:
        yield client
    finally:
        with anyio.CancelScope(shield=True), anyio.move_on_after(settings.request_timeout_s):
            await client.close()


async def await_fabric(js: JetStreamContext) -> None:
    """Wait until a hub has made the streams and the bucket (a node started first waits for one): a
    node may use them but, with per-node credentials, not make them.

    Raises: FabricUnavailable — NATS does not answer (or does not let this client ask).
    """
    told = False
    while True:
        try:
            for stream in (WORK_STREAM, RESULTS_STREAM, f"KV_{NODES_BUCKET}"):
                await js.stream_info(stream)
            return
        except nats.js.errors.NotFoundError:
            if not told:
                logger.info("waiting for a hub to make Corral's streams on NATS")
                told = True
        except NatsErrors as exc:
            raise unavailable("cannot find Corral's streams", exc) from exc
        await anyio.sleep(FABRIC_POLL_S)


async def ensure_fabric(js: JetStreamContext) -> None:
    """Create the streams and the bucket, or find them as they are (the hub does this).

    Raises: FabricUnavailable.
    """
    try:
        await js.add_stream(
            name=WORK_STREAM,
            subjects=["corral.work.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            max_age=WORK_MAX_AGE_S,
            max_msg_size=MAX_MESSAGE_BYTES,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        await js.add_stream(
            name=RESULTS_STREAM,
            subjects=["corral.result.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            max_age=WORK_MAX_AGE_S,
            max_msg_size=MAX_MESSAGE_BYTES,
            duplicate_window=DUPLICATE_WINDOW_S,
        )
        await js.create_key_value(bucket=NODES_BUCKET, history=1, limit_marker_ttl=MARKER_TTL_S)
    except NatsErrors as exc:
        raise unavailable("cannot create Corral's streams and bucket", exc) from exc
