"""Helpers for tests: entries for the project's test servers, ports, bounded waits, a hub process."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parent.parent
SERVERS = ROOT / "tests" / "servers"
VENV_BIN = Path(sys.executable).parent
EVERYTHING_JS = ROOT / ".cache/everything/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
LOOPBACK_JS = SERVERS / "loopback.cjs"


def server_entry(name: str, *args: str, **env: str) -> dict[str, Any]:
    """An ``mcpServers`` entry that runs one of the project's test servers over stdio."""
    entry: dict[str, Any] = {"command": sys.executable, "args": [str(SERVERS / f"{name}.py"), *args]}
    if env:
        entry["env"] = env
    return entry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def everything_available() -> bool:
    return EVERYTHING_JS.exists() and shutil.which("node") is not None


@dataclass
class HubProcess:
    """A real `corral serve` subprocess on an ephemeral loopback port."""

    process: subprocess.Popen[bytes]
    url: str
    data_dir: Path
    log_path: Path
    token: str | None = None
    _http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self._http = httpx.Client(base_url=self.url, timeout=10.0)

    def headers(self) -> dict[str, str]:
        if self.token is None:
            token_file = self.data_dir / "admin.token"
            if token_file.exists():
                self.token = token_file.read_text().strip()
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.get(path, headers={**self.headers(), **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return self._http.post(path, headers={**self.headers(), **kwargs.pop("headers", {})}, **kwargs)

    def server(self, name: str) -> dict[str, Any]:
        response = self.get(f"/api/v1/servers/{name}")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def wait_ready(self, timeout: float = 30.0) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise AssertionError(f"the hub exited with {self.process.returncode}:\n{self.log()}")
            try:
                return self._http.get("/readyz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout)

    def wait_status(self, name: str, *statuses: str, timeout: float = 15.0) -> dict[str, Any]:
        def reached() -> dict[str, Any] | None:
            body = self.server(name)
            return body if body["status"] in statuses else None

        result: dict[str, Any] = wait_until(reached, timeout)
        return result

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout)
        finally:
            self._http.close()


def launch_hub(directory: Path, config: dict[str, Any], *args: str, wait: bool = True) -> HubProcess:
    """Start `corral serve` in ``directory`` with ``config`` (written as YAML) on a free loopback port."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "corral.yaml"
    config_path.write_text(yaml.safe_dump(config))
    port = free_port()
    log_path = directory / "hub.log"
    data_dir = directory / "data"
    command = [
        str(VENV_BIN / "corral"), "serve", "--config", str(config_path), "--data-dir", str(data_dir),
        "--host", "127.0.0.1", "--port", str(port), *args,
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=directory)
    hub = HubProcess(process, f"http://127.0.0.1:{port}", data_dir, log_path)
    if wait:
        hub.wait_ready()
    return hub


class HttpTestServer:
    """One of the project's test servers over Streamable HTTP on a fixed port (``URL`` ends in ``/mcp``).

    Restarted, it forgets every session, as a real server does.
    """

    def __init__(self, name: str, port: int, directory: Path, *args: str) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}/mcp"
        self._command = [sys.executable, str(SERVERS / f"{name}.py"), "--http", str(port), *args]
        self.log = directory / f"{name}-http.log"
        self.process = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        with self.log.open("ab") as log:
            process = subprocess.Popen(self._command, stdout=log, stderr=log)
        wait_until(lambda: listening(self.port), timeout=20)
        return process

    def restart(self) -> None:
        self.stop()
        self.process = self._start()

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(5)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
