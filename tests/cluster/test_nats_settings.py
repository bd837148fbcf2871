"""Scale-out settings and ``corral node``'s refusals: where the NATS URL comes from, what a node
needs before it starts, and what NATS being away looks like."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from corral.config.settings import load_settings
from tests.cli.conftest import Exited


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_NATS_URL", raising=False)


def test_without_a_nats_url_the_hub_is_one_process_and_nodes_beat_every_half_second_with_a_2_s_ttl() -> None:
    settings = load_settings({})

    assert settings.nats_url is None
    assert (settings.cluster.heartbeat_interval_s, settings.cluster.node_ttl_s) == (0.5, 2)


def test_the_nats_url_comes_from_the_flag_over_the_environment_over_the_hub_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from_file = load_settings({}, {"nats_url": "nats://file:4222"})
    monkeypatch.setenv("CORRAL_NATS_URL", "nats://env:4222")
    from_env = load_settings({}, {"nats_url": "nats://file:4222"})
    from_flag = load_settings({"nats_url": "nats://flag:4222"}, {"nats_url": "nats://file:4222"})

    assert (from_file.nats_url, from_env.nats_url, from_flag.nats_url) == (
        "nats://file:4222",
        "nats://env:4222",
        "nats://flag:4222",
    )


def test_a_node_ttl_is_whole_seconds_as_nats_message_ttls_are() -> None:
    with pytest.raises(ValidationError, match="node_ttl_s"):
        load_settings({}, {"cluster": {"node_ttl_s": 1.5}})


def test_a_node_needs_a_nats_url_and_a_name_without_dots(
    corral: Callable[..., Exited], tmp_path: Path
) -> None:
    config = tmp_path / "node.yaml"
    config.write_text("mcpServers: {}\n")

    no_url = corral("node", "--name", "lab", "--config", str(config))
    dotted = corral("node", "--nats", "nats://127.0.0.1:4222", "--name", "lab.1", "--config", str(config))

    assert (no_url.code, dotted.code) == (2, 2)
    assert "a node needs a NATS server: --nats nats://host:4222" in no_url.err
    assert "node name 'lab.1'" in dotted.err and "no dots" in dotted.err


def test_a_node_that_cannot_reach_nats_says_so_and_exits_unavailable(
    corral_process: Callable[..., Exited], tmp_path: Path
) -> None:
    config = tmp_path / "node.yaml"
    config.write_text("mcpServers: {}\nhub: {cluster: {connect_timeout_s: 1}}\n")

    exited = corral_process("node", "--nats", "nats://127.0.0.1:1", "--name", "lab", "--config", str(config))

    assert exited.code == 5
    assert "error: NATS: cannot connect to nats://127.0.0.1:1" in exited.err


def test_the_cli_names_the_hubs_nats_user_as_the_credentials_do() -> None:
    from corral.cli import nats as cli_nats
    from corral.cluster.nats import credentials

    assert cli_nats.HUB_USER == credentials.HUB_USER
