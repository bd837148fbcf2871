"""Per-node NATS credentials (``corral nats config``, ``corral nodes add``) on a real nats-server: a
node signs in with its own, serves through the hub, and is kept to its own subjects; a wrong
credential is refused."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio
import nats
import nats.errors
import pytest

from corral.cluster.nats import fabric
from corral.cluster.nats.credentials import HUB_USER
from corral.gateway.names import exposed_name
from tests.cli.conftest import Exited
from tests.cluster.nats_rig import NatsServer, launch_node, start_nats
from tests.cluster.test_nats_calls import CLUSTER, serving
from tests.rig import RunHub
from tests.support import server_entry, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def secured(tmp_path: Path, corral: Callable[..., Exited]) -> Iterator[tuple[NatsServer, Path]]:
    """A nats-server started on the configuration ``corral nats config`` wrote (nodes a, and b added)."""
    directory = tmp_path / "nats-config"
    assert corral("nats", "config", str(directory), "--node", "a").code == 0
    added = corral("nodes", "add", "b", "--nats-dir", str(directory))
    assert added.code == 0 and "credential for node b" in added.out
    server = start_nats(tmp_path / "nats", config=directory / "nats.conf")
    yield server, directory / "credentials"
    server.stop(signal.SIGTERM)


@pytest.mark.anyio
async def test_a_node_with_its_credential_serves_through_a_hub_with_the_hubs(
    run_hub: RunHub, secured: tuple[NatsServer, Path], tmp_path: Path
) -> None:
    server, credentials = secured
    node = launch_node(
        tmp_path / "node-a", server.url, "a", {"echo": server_entry("echo")},
        "--nats-credentials", str(credentials / "a.json"), settings={"ping_interval_s": 1.0},
    )  # fmt: skip
    try:
        cluster = {**CLUSTER, "credentials_file": str(credentials / f"{HUB_USER}.json")}
        async with run_hub(nats_url=server.url, cluster=cluster) as running:
            await serving(running, "a.echo")
            answer = await running.client.post(
                f"/api/v1/tools/{exposed_name('a.echo', 'echo')}/call",
                json={"arguments": {"text": "signed in"}},
            )
    finally:
        node.stop()
    assert answer.status_code == 200, answer.text
    assert answer.json()["content"] == [{"type": "text", "text": "signed in"}]


def test_a_node_with_a_wrong_credential_is_refused(secured: tuple[NatsServer, Path], tmp_path: Path) -> None:
    server, credentials = secured
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps({"user": "a", "password": "not-the-password"}))
    node = launch_node(
        tmp_path / "node-a", server.url, "a", {}, "--nats-credentials", str(forged),
        settings={},
    )  # fmt: skip
    assert node.process.wait(30) == 5
    assert "Authorization Violation" in " ".join(node.log().split())


@pytest.mark.anyio
async def test_a_node_can_neither_take_another_nodes_work_nor_answer_for_it(
    secured: tuple[NatsServer, Path],
) -> None:
    server, credentials = secured
    errors: list[str] = []

    async def error(exc: Exception) -> None:
        errors.append(str(exc))

    a = json.loads((credentials / "a.json").read_text())
    client = await nats.connect(
        server.url, user=a["user"], password=a["password"], inbox_prefix="_INBOX_a", error_cb=error
    )
    try:
        await client.subscribe(fabric.work_subject("b"))
        await client.subscribe(fabric.control_subject("b"))
        await client.publish(fabric.result_subject("b", "c_1"), b"{}")
        await client.publish(fabric.kv_subject(fabric.heartbeat_key("b")), b"{}")
        with pytest.raises(nats.errors.TimeoutError):  # the request is dropped: no answer comes
            await client.request(
                f"$JS.API.CONSUMER.MSG.NEXT.{fabric.WORK_STREAM}.{fabric.node_consumer('b')}", b"1", timeout=1
            )
        await client.flush()
        await anyio.to_thread.run_sync(lambda: wait_until(lambda: len(errors) >= 5, timeout=10))
    finally:
        await client.close()

    denied = "\n".join(errors)
    for subject in (
        f'Subscription to "{fabric.work_subject("b")}"',
        f'Subscription to "{fabric.control_subject("b")}"',
        f'Publish to "{fabric.result_subject("b", "c_1")}"',
        f'Publish to "{fabric.kv_subject(fabric.heartbeat_key("b"))}"',
        f'Publish to "$JS.API.CONSUMER.MSG.NEXT.{fabric.WORK_STREAM}.{fabric.node_consumer("b")}"',
    ):
        assert f"permissions violation for {subject}".lower() in denied.lower(), denied
