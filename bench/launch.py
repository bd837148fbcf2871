"""How soon ``corral serve`` answers after launch, whatever its servers do.

For each fleet, ``--runs`` times (after one untimed warm-up launch): start ``corral serve`` (subprocess
on 127.0.0.1, a fresh data dir, SQLite) and poll every 5 ms, from the moment of ``Popen``, until each
of these has answered once:

- ``GET /healthz`` 200;
- ``GET /api/v1/servers`` 200 with the admin token (read from the data dir as soon as it is there);
- ``POST /mcp`` ``initialize`` 200 with the admin token;
- ``GET /readyz`` 200 (every server had its first start).

Fleets: no servers; 20 ``tests/servers/echo.py`` over stdio; 5 servers that never answer the
handshake (``sleep 600``), whose ``/readyz`` waits for their connect timeout. It prints the medians in
ms, and with ``--docs`` writes them under ``## Launch`` in docs/benchmarks.md.

    python bench/launch.py [--runs 3] [--docs]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from sections import write_section  # bench/ is the script's directory
from workflows import BenchError, launch, load_average, server_entry

HEADING = "## Launch"
WAIT_S = 60.0
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench", "version": "1"},
    },
}
FLEETS: dict[str, dict[str, Any]] = {
    "no servers": {},
    "20 echo servers": {f"echo{index:02d}": server_entry("echo") for index in range(20)},
    "5 servers that never answer": {
        f"mute{index}": {"command": "sleep", "args": ["600"]} for index in range(5)
    },
}
PROBES = ("/healthz", "/api/v1/servers", "/mcp", "/readyz")


def probe(http: httpx.Client, path: str, token: str | None) -> bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        if path == "/mcp":
            if token is None:
                return False
            headers |= {"Accept": "application/json, text/event-stream"}
            return http.post(path, json=INITIALIZE, headers=headers).status_code == 200
        if path == "/api/v1/servers" and token is None:
            return False
        return http.get(path, headers=headers).status_code == 200
    except httpx.TransportError:
        return False


def once(directory: Path, servers: dict[str, Any]) -> dict[str, float]:
    started = time.perf_counter()
    hub = launch(directory, {"mcpServers": servers}, None)
    answered: dict[str, float] = {}
    token_path = hub.data_dir / "admin.token"
    try:
        with httpx.Client(base_url=hub.url, timeout=2) as http:
            while len(answered) < len(PROBES):
                if time.perf_counter() - started > WAIT_S:
                    raise BenchError(
                        f"not every probe answered in {WAIT_S:g} s: {answered}\n{hub.log_tail()}"
                    )
                if hub.process.poll() is not None:
                    raise BenchError(f"the hub exited:\n{hub.log_tail()}")
                token = token_path.read_text().strip() if token_path.exists() else None
                for path in PROBES:
                    if path not in answered and probe(http, path, token):
                        answered[path] = (time.perf_counter() - started) * 1000
                time.sleep(0.005)
    finally:
        hub.stop()
    return answered


def measure(runs: int) -> dict[str, dict[str, float]]:
    medians: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="corral-bench-launch-") as root:
        once(Path(root) / "warm-up", {})
        for name, servers in FLEETS.items():
            samples = [once(Path(root) / f"{name}-{run}".replace(" ", "-"), servers) for run in range(runs)]
            medians[name] = {path: statistics.median(sample[path] for sample in samples) for path in PROBES}
            print(name, {path: round(value) for path, value in medians[name].items()}, flush=True)
    return medians


def table(medians: dict[str, dict[str, float]]) -> str:
    lines = [
        "| fleet | " + " | ".join(f"`{path}` ms" for path in PROBES) + " |",
        "|---|" + "---|" * len(PROBES),
    ]
    for name, figures in medians.items():
        lines.append(f"| {name} | " + " | ".join(f"{figures[path]:.0f}" for path in PROBES) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--docs", action="store_true")
    args = parser.parse_args(argv)
    load_before = load_average()
    text = table(measure(args.runs))
    print(text)
    if args.docs:
        command = "python bench/launch.py " + shlex.join(sys.argv[1:])
        write_section(
            HEADING,
            f"{HEADING}\n\nLaunch (`Popen` of `corral serve`) → first answer, medians of {args.runs} runs. "
            f"{dt.date.today().isoformat()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load {load_before} → {load_average()}.\n\n```sh\n{command}\n```\n\n{text}\n",
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
