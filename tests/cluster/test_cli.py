"""``corral nodes`` and ``corral serve --node-name/--label`` against a real ``corral serve`` process."""

from __future__ import annotations

import json
from collections.abc import Callable

from click.testing import Result
from typer.testing import CliRunner

from corral.cli.main import app
from tests.cli.conftest import Exited
from tests.cluster.model_server import OLLAMA, model_server
from tests.support import HubProcess


def test_nodes_lists_and_shows_the_builtin_node_named_and_labelled_by_flags(
    start_hub: Callable[..., HubProcess], cli: Callable[..., Result], corral: Callable[..., Exited]
) -> None:
    with model_server(dict(OLLAMA)) as ollama:
        config = {
            "hub": {
                "node": {
                    "name": "from-file",
                    "labels": {"gpu": "none"},
                    "model_endpoints": [{"kind": "ollama", "url": ollama.url}],
                    "probe_timeout_s": 10,
                }
            }
        }
        hub = start_hub(config, "--node-name", "lab-1", "--label", "zone=lab")
        options = ["--hub", hub.url, "--data-dir", str(hub.data_dir)]

        listed = cli("nodes", *options)
        listed_too = cli("nodes", "list", *options)
        listed_json = cli("nodes", "--json", *options)
        shown = cli("nodes", "show", "lab-1", *options)
        shown_json = cli("nodes", "show", "lab-1", "--json", *options)
        narrow = CliRunner(env={"COLUMNS": "80"})
        narrow_list = narrow.invoke(app, ["nodes", *options], catch_exceptions=False)
        narrow_show = narrow.invoke(app, ["nodes", "show", "lab-1", *options], catch_exceptions=False)
        missing = corral("nodes", "show", "gpu-box", *options)

    assert [result.exit_code for result in (listed, listed_too, listed_json, shown, shown_json)] == [0] * 5
    assert "lab-1" in listed.stdout and "alive" in listed.stdout
    assert "gpu=none, zone=lab" in listed.stdout
    assert listed_too.stdout == listed.stdout
    items = json.loads(listed_json.stdout)["items"]
    assert [(item["name"], item["labels"]) for item in items] == [("lab-1", {"gpu": "none", "zone": "lab"})]
    assert "llama3.2:latest" in shown.stdout
    assert "Q4_K_M" in shown.stdout
    assert "gpus" in shown.stdout  # none here, with NVML's reason
    assert json.loads(shown_json.stdout)["name"] == "lab-1"
    for narrow_result in (narrow_list, narrow_show):
        assert narrow_result.exit_code == 0
        assert max(len(line) for line in narrow_result.stdout.splitlines()) <= 80
    assert "lab-1" in narrow_list.stdout
    assert missing.code == 4
    assert "no node is called 'gpu-box'; known: lab-1" in missing.err


def test_a_label_flag_without_a_value_is_refused_before_the_hub_starts(corral: Callable[..., Exited]) -> None:
    refused = corral("serve", "--label", "zone", "--port", "0")

    assert refused.code == 2
    assert "--label 'zone': write key=value" in refused.err
