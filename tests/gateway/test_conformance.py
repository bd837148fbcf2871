"""The official MCP conformance suite against the hub.

In front of the project's conformance fixture, ``/servers/conformance/mcp`` must pass exactly the
scenarios the fixture passes alone (tests/conformance/test_fixture.py), the relayed ones included:
logging, progress, sampling, elicitation. The aggregated ``/mcp`` must pass the scenarios that need
no fixture. The fixture runs over stdio there; the tool-call scenarios run again in front of the
fixture served over HTTP, so the relays are checked on both of the hub's lanes (upstream/lane.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.conformance.tools import (
    ACTIVE_SCENARIOS,
    GENERIC_SCENARIOS,
    Toolchain,
    run_scenario,
    toolchain_or_reason,
)
from tests.support import HttpTestServer, HubProcess, free_port, server_entry

pytestmark = [pytest.mark.npm, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    found = toolchain_or_reason()
    if isinstance(found, str):
        pytest.skip(f"conformance toolchain unavailable: {found}")
    return found


@pytest.fixture(scope="module")
def hub(module_hub: Callable[..., HubProcess]) -> HubProcess:
    # The suite cannot send a bearer token: the hub runs in its loopback-only development mode.
    return module_hub({"mcpServers": {"conformance": server_entry("conformance")}}, "--no-auth")


@pytest.fixture(scope="module")
def http_fixture_hub(
    module_hub: Callable[..., HubProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubProcess]:
    fixture = HttpTestServer("conformance", free_port(), tmp_path_factory.mktemp("fixture"))
    try:
        yield module_hub({"mcpServers": {"conformance": {"type": "http", "url": fixture.url}}}, "--no-auth")
    finally:
        fixture.stop()


@pytest.mark.parametrize("scenario", ACTIVE_SCENARIOS)
def test_hub_in_front_of_the_fixture_passes_the_same_scenario(
    hub: HubProcess, toolchain: Toolchain, scenario: str
) -> None:
    result = run_scenario(f"{hub.url}/servers/conformance/mcp", scenario, timeout=60, toolchain=toolchain)
    assert result.passed, result.output[-3000:]
    assert result.passed_checks >= 1


@pytest.mark.parametrize("scenario", GENERIC_SCENARIOS)
def test_aggregated_endpoint_passes_the_scenarios_that_need_no_fixture(
    hub: HubProcess, toolchain: Toolchain, scenario: str
) -> None:
    result = run_scenario(f"{hub.url}/mcp", scenario, timeout=60, toolchain=toolchain)
    assert result.passed, result.output[-3000:]
    assert result.passed_checks >= 1


@pytest.mark.parametrize("scenario", [name for name in ACTIVE_SCENARIOS if name.startswith("tools-call-")])
def test_hub_in_front_of_the_fixture_over_http_passes_the_tool_call_scenarios(
    http_fixture_hub: HubProcess, toolchain: Toolchain, scenario: str
) -> None:
    url = f"{http_fixture_hub.url}/servers/conformance/mcp"
    result = run_scenario(url, scenario, timeout=60, toolchain=toolchain)
    assert result.passed, result.output[-3000:]
    assert result.passed_checks >= 1
