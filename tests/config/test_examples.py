"""The examples the README and the manual show are real files and real definitions, loaded as Corral
loads them, so the docs cannot drift from what the hub accepts."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from corral.config.file import load_config
from corral.workflow.engine import parse_definition

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_fleet_loads_and_its_demo_server_is_an_agent() -> None:
    config = load_config(ROOT / "examples" / "demo.yaml", environ={})

    servers = {spec.name: spec for spec in config.servers}
    assert set(servers) == {"time", "demo"}
    assert servers["demo"].agent is not None and "echo" in servers["demo"].agent.capabilities


def test_the_readme_workflow_is_a_valid_definition() -> None:
    readme = (ROOT / "README.md").read_text()
    [block] = [block for block in re.findall(r"```yaml\n(.*?)```", readme, re.S) if "workflow_id" in block]

    definition = parse_definition(yaml.safe_load(block))

    assert [step.id for step in definition.steps] == ["log", "post"]


def test_the_scale_out_demo_node_config_loads_and_its_demo_server_is_an_agent() -> None:
    config = load_config(ROOT / "examples" / "node.yaml", environ={})

    [demo] = config.servers
    assert demo.name == "demo" and demo.agent is not None and demo.agent.max_concurrent == 2
    assert config.settings == {"ping_interval_s": 5}
