"""The examples the README and the manual show are real files and real definitions, loaded as Corral
loads them, so the docs cannot drift from what the hub accepts."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from corral.config.file import load_config
from corral.config.settings import load_settings
from corral.settings.models import RuntimeSettings
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


def test_the_configuration_example_loads_with_its_runtime_and_hub_settings(tmp_path: Path) -> None:
    manual = (ROOT / "docs" / "configuration.md").read_text()
    [block] = [block for block in re.findall(r"```yaml\n(.*?)```", manual, re.S) if "mcpServers" in block]
    (tmp_path / "corral.yaml").write_text(block)

    config = load_config(tmp_path / "corral.yaml", environ={"SEARCH_TOKEN": "t"})
    runtime = RuntimeSettings.model_validate(config.settings)
    hub = load_settings({}, config.hub)

    assert (runtime.audit_keep_days, runtime.events_keep_rows) == (90, 2_000_000)
    assert hub.archive_path == Path(".corral") / "archive"
