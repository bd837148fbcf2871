"""Rigs for node tests: the ``corral`` command (the CLI tests' CliRunner), a real nats-server, and real
``corral node`` processes."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import cli, corral, corral_process
from tests.cluster.nats_rig import NatsServer, NodeProcess, launch_node, start_nats

__all__ = ["cli", "corral", "corral_process"]

FAST_NODE = {"ping_interval_s": 1.0}
"""A node's runtime settings in tests: its servers' states move within a second."""


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A nats-server with JetStream on a loopback port of its choosing; stopped at the end of the test."""
    server = start_nats(tmp_path / "nats")
    yield server
    server.stop()


StartNode = Callable[..., NodeProcess]


@pytest.fixture
def start_node(tmp_path: Path, nats_server: NatsServer) -> Iterator[StartNode]:
    """``start_node(name, servers, *args)``: a ``corral node`` on the test's nats-server; stopped after."""
    nodes: list[NodeProcess] = []

    def start(
        name: str, servers: dict[str, Any], *args: str, settings: dict[str, Any] | None = None
    ) -> NodeProcess:
        node = launch_node(
            tmp_path / f"node-{name}", nats_server.url, name, servers, *args, settings=settings or FAST_NODE
        )
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        if node.process.poll() is None:
            node.stop(signal.SIGTERM)
