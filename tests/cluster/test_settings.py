"""The built-in node's settings: ``hub: {node: ...}`` in the file, ``CORRAL_NODE``, flags over both."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from corral.config.settings import ModelEndpoint, load_settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CORRAL_NODE", raising=False)


def test_by_default_the_node_has_no_name_labels_or_model_endpoints_and_measures_every_30_s() -> None:
    node = load_settings({}).node

    assert (node.name, node.labels, node.model_endpoints) == (None, {}, ())
    assert node.inventory_interval_s == 30.0


def test_the_file_names_the_node_its_labels_and_its_model_endpoints() -> None:
    node = load_settings(
        {},
        {
            "node": {
                "name": "gpu-box",
                "labels": {"zone": "lab", "gpu": "a100"},
                "inventory_interval_s": 10,
                "model_endpoints": [{"kind": "ollama", "url": "http://127.0.0.1:11434"}],
            }
        },
    ).node

    assert node.name == "gpu-box"
    assert node.labels == {"zone": "lab", "gpu": "a100"}
    assert node.inventory_interval_s == 10
    assert node.model_endpoints == (ModelEndpoint(kind="ollama", url="http://127.0.0.1:11434"),)


def test_the_environment_and_flags_override_the_file_key_by_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CORRAL_NODE", '{"labels": {"zone": "rack-2"}}')
    file = {"node": {"name": "from-file", "inventory_interval_s": 5}}

    from_env = load_settings({}, file).node
    from_flag = load_settings({"node": {"name": "from-flag"}}, file).node

    assert (from_env.name, from_env.labels, from_env.inventory_interval_s) == (
        "from-file",
        {"zone": "rack-2"},
        5,
    )
    assert (from_flag.name, from_flag.labels, from_flag.inventory_interval_s) == (
        "from-flag",
        {"zone": "rack-2"},
        5,
    )


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ({"name": "has space"}, "String should match pattern"),
        ({"name": ".hidden"}, "String should match pattern"),
        ({"labels": {"bad key": "x"}}, "label 'bad key': a key is"),
        ({"model_endpoints": [{"kind": "tgi", "url": "http://x"}]}, "Input should be 'ollama' or 'openai'"),
        ({"model_endpoints": [{"kind": "ollama", "url": "localhost:11434"}]}, "write an http:// or https://"),
        ({"model_endpoints": [{"kind": "ollama", "url": "http://[::1"}]}, "not a URL: "),
        ({"model_endpoints": [{"kind": "ollama", "url": "http:///path"}]}, "with a host"),
        ({"inventory_interval_s": 0}, "greater than 0"),
        ({"color": "blue"}, "Extra inputs are not permitted"),
    ],
)
def test_a_bad_node_setting_is_refused_naming_what_is_wrong(node: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError) as raised:
        load_settings({}, {"node": node})

    error = raised.value.errors()[0]
    assert error["loc"][0] == "node"
    assert message in error["msg"]
