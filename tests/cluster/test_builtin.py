"""The hub's built-in node: its name, joining, inventory events only when something that matters changed."""

from __future__ import annotations

import logging

import anyio
import pytest

from corral.clock import ManualClock
from corral.cluster.builtin import BuiltinNode, NodeDirectory, default_node_name
from corral.config.settings import ModelEndpoint, NodeSettings
from corral.errors import NotFound
from corral.events.bus import EventBus
from corral.observability.logcontext import ContextFilter, fields_of
from tests.cluster.model_server import OLLAMA, model_server

pytestmark = pytest.mark.anyio


def test_the_node_is_named_after_the_host_unless_a_name_is_set() -> None:
    bus = EventBus(ManualClock())
    assert BuiltinNode(NodeSettings(), bus, ManualClock(), host_name=lambda: "gpu-box").name == "gpu-box"
    named = BuiltinNode(NodeSettings(name="lab-1"), bus, ManualClock(), host_name=lambda: "gpu-box")
    assert named.name == "lab-1"


def test_a_host_name_with_characters_a_node_name_may_not_hold_is_tidied() -> None:
    assert default_node_name("gpu-box.lan") == "gpu-box.lan"
    assert default_node_name("Bob's MacBook Pro") == "Bob-s-MacBook-Pro"
    assert default_node_name("-_-") == "corral"


def test_each_start_of_the_process_has_its_own_boot_id() -> None:
    bus, clock = EventBus(ManualClock()), ManualClock()
    first, second = BuiltinNode(NodeSettings(), bus, clock), BuiltinNode(NodeSettings(), bus, clock)
    assert first.boot_id != second.boot_id


async def test_the_node_joins_with_an_inventory_then_tells_only_changes_that_matter() -> None:
    clock = ManualClock()
    bus = EventBus(clock)
    with model_server(dict(OLLAMA)) as ollama:
        settings = NodeSettings(
            name="lab-1",
            labels={"zone": "lab"},
            inventory_interval_s=3600,
            model_endpoints=(ModelEndpoint(kind="ollama", url=ollama.url),),
            probe_timeout_s=10,
        )
        node = BuiltinNode(settings, bus, clock, servers=lambda: ["time", "echo"])
        async with bus.subscribe() as events, anyio.create_task_group() as tg:
            await tg.start(node.run)
            joined = events.receive_nowait()

            await node.refresh()  # the same models, another load: nothing to tell
            with pytest.raises(anyio.WouldBlock):
                events.receive_nowait()

            ollama.answers = {**OLLAMA, "/api/ps": {"models": []}}  # llama3.2 unloaded
            await node.refresh()
            unloaded = events.receive_nowait()

            node.set_labels({"zone": "lab"})
            with pytest.raises(anyio.WouldBlock):
                events.receive_nowait()
            node.set_labels({"zone": "lab", "gpu": "none"})
            relabelled = events.receive_nowait()
            info = node.info()
            tg.cancel_scope.cancel()

    assert (joined.topic, joined.type, joined.subject) == ("nodes", "node.joined", "lab-1")
    assert joined.data["builtin"] is True
    assert joined.data["alive"] is True
    assert joined.data["labels"] == {"zone": "lab"}
    assert joined.data["servers"] == ["echo", "time"]
    assert joined.data["boot_id"] == node.boot_id
    assert [model["loaded"] for model in joined.data["inventory"]["models"]] == [False, True]

    assert (unloaded.type, unloaded.subject) == ("node.inventory", "lab-1")
    assert [model["loaded"] for model in unloaded.data["inventory"]["models"]] == [False, False]
    assert relabelled.type == "node.inventory"
    assert relabelled.data["labels"] == {"zone": "lab", "gpu": "none"}
    assert info.alive and info.inventory is not None
    assert not node.info().alive  # it left when its task ended


async def test_the_node_measures_again_on_its_interval() -> None:
    clock = ManualClock()
    bus = EventBus(clock)
    with model_server(dict(OLLAMA)) as ollama:
        settings = NodeSettings(
            inventory_interval_s=0.01,
            model_endpoints=(ModelEndpoint(kind="ollama", url=ollama.url),),
            probe_timeout_s=10,
        )
        node = BuiltinNode(settings, bus, clock, host_name=lambda: "box")
        async with bus.subscribe() as events, anyio.create_task_group() as tg:
            await tg.start(node.run)
            assert (await events.receive()).type == "node.joined"
            ollama.answers = {"/api/tags": {"models": []}, "/api/ps": {"models": []}}
            with anyio.fail_after(10):
                changed = await events.receive()
            tg.cancel_scope.cancel()

    assert changed.type == "node.inventory"
    assert changed.data["inventory"]["models"] == []


async def test_the_directory_finds_the_builtin_node_and_names_the_known_ones_for_an_unknown_name() -> None:
    clock = ManualClock()
    node = BuiltinNode(NodeSettings(name="lab-1"), EventBus(clock), clock)
    directory = NodeDirectory(node)
    await node.refresh()

    assert [info.name for info in directory.nodes()] == ["lab-1"]
    assert directory.get("lab-1").builtin
    assert directory.models("lab-1") == ((), ())
    with pytest.raises(NotFound) as missing:
        directory.get("gpu-box")
    assert missing.value.message == "no node is called 'gpu-box'; known: lab-1"


async def test_the_nodes_own_log_lines_carry_its_name(caplog: pytest.LogCaptureFixture) -> None:
    caplog.handler.addFilter(ContextFilter())
    caplog.set_level(logging.INFO, logger="corral.cluster.builtin")
    clock = ManualClock()
    node = BuiltinNode(NodeSettings(name="lab-1", inventory_interval_s=3600), EventBus(clock), clock)
    async with anyio.create_task_group() as tg:
        await tg.start(node.run)
        tg.cancel_scope.cancel()

    joined = [record for record in caplog.records if "joined" in record.getMessage()]
    assert [fields_of(record) for record in joined] == [{"node": "lab-1"}]
