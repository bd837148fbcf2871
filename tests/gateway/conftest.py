"""A real `corral serve` in front of real MCP servers, shared by the gateway tests of one module."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support import HubProcess, launch_hub


@pytest.fixture(scope="module")
def module_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., HubProcess]]:
    hubs: list[HubProcess] = []

    def start(config: dict[str, Any], *args: str) -> HubProcess:
        hub = launch_hub(tmp_path_factory.mktemp("hub"), config, *args)
        hubs.append(hub)
        return hub

    yield start
    for hub in hubs:
        hub.stop(signal.SIGTERM)
