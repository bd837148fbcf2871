"""The conformance fixture server (tests/servers/conformance.py) against the official MCP conformance suite.

Each scenario runs in its own `conformance server --scenario` process against one fixture process (Streamable
HTTP on a free loopback port); a scenario passes when none of its checks failed (warnings are allowed).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conformance.tools import (
    ACTIVE_SCENARIOS,
    GENERIC_SCENARIOS,
    PENDING_SCENARIOS,
    Toolchain,
    list_server_scenarios,
    run_scenario,
    toolchain_or_reason,
)
from tests.support import SERVERS, free_port, wait_until

pytestmark = [pytest.mark.npm, pytest.mark.timeout(600)]  # the first test may install the toolchain


@pytest.fixture(scope="module")
def toolchain() -> Toolchain:
    found = toolchain_or_reason()
    if isinstance(found, str):
        pytest.skip(f"conformance toolchain unavailable: {found}")
    return found


def _accepts_connections(port: int, process: subprocess.Popen[bytes]) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the fixture server exited with {process.returncode}")
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def fixture_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`tests/servers/conformance.py --http PORT`, one process for the whole module."""
    port = free_port()
    log_path: Path = tmp_path_factory.mktemp("conformance") / "fixture.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(SERVERS / "conformance.py"), "--http", str(port)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: _accepts_connections(port, process), timeout=30)
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _report(result_output: str) -> str:
    return "\n".join(line for line in result_output.splitlines() if line.strip())[-6000:]


def test_the_hard_coded_scenario_lists_match_what_the_suite_lists(toolchain: Toolchain) -> None:
    listed = list_server_scenarios(toolchain)
    assert sorted(listed) == sorted(ACTIVE_SCENARIOS + PENDING_SCENARIOS)
    assert len(ACTIVE_SCENARIOS) == 30
    assert set(GENERIC_SCENARIOS) <= set(ACTIVE_SCENARIOS)


@pytest.mark.parametrize("scenario", ACTIVE_SCENARIOS)
def test_the_fixture_fails_no_check_of_the_active_scenario(
    toolchain: Toolchain, fixture_url: str, scenario: str
) -> None:
    result = run_scenario(fixture_url, scenario, timeout=60, toolchain=toolchain)
    assert result.failed_checks == 0, _report(result.output)
    assert result.passed_checks >= 1, _report(result.output)


@pytest.mark.parametrize("scenario", PENDING_SCENARIOS)
def test_the_fixture_fails_no_check_of_the_pending_scenario(
    toolchain: Toolchain, fixture_url: str, scenario: str
) -> None:
    # server-sse-polling scores 0/0 with 2 warnings: its raw POST says `mcp-protocol-version: 2025-03-26`,
    # and the SDK sends the priming event and allows closing the stream only at >= 2025-11-25.
    result = run_scenario(fixture_url, scenario, timeout=60, toolchain=toolchain)
    assert result.failed_checks == 0, _report(result.output)
