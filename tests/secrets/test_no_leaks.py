"""No secret leaves a real hub: not in any REST answer, the event stream, the log (text and JSON), the
audit export or the store's file; and the servers still get their secrets. A wrong key stops the hub.

Secrets come in through the config file and through the REST API, as env values of stdio servers and
as headers of HTTP servers. The stdio servers print theirs to stderr and send it in MCP log messages.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.gateway.clients import mcp_client
from tests.support import VENV_BIN, HttpTestServer, HubProcess, free_port, server_entry, wait_until


def fresh(prefix: str) -> Callable[[], str]:
    return lambda: prefix + secrets.token_hex(16)


@dataclass(frozen=True)
class Secrets:
    config_env: str = field(default_factory=fresh("cfg-"))
    config_header: str = field(default_factory=fresh("hdr-"))
    config_bearer: str = field(default_factory=fresh("brr"))
    api_env: str = field(default_factory=fresh("api-"))
    api_header: str = field(default_factory=fresh("hda-"))
    refused_url: str = field(default_factory=fresh("url"))

    def all(self) -> list[str]:
        return list(vars(self).values())


def sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture
def http_upstream(tmp_path: Path) -> Iterator[str]:
    """The secretive server over Streamable HTTP; its URL."""
    server = HttpTestServer("secretive", free_port(), tmp_path)
    yield server.url
    server.stop()


def secretive(token: str) -> dict[str, Any]:
    return server_entry("secretive", SECRETIVE_TOKEN=token, PLAIN_SETTING="plain-value")


def remote(url: str, header: str, bearer: str | None = None) -> dict[str, Any]:
    headers = {"X-Api-Key": header, **({"Authorization": f"Bearer {bearer}"} if bearer else {})}
    return {"type": "http", "url": url, "headers": headers}


def get_paths(hub: HubProcess, values: dict[str, list[str]]) -> list[str]:
    """Every GET route of the REST API from its OpenAPI document, with real values for its parameters.

    ``values`` holds them by parameter (``name``), or by resource and parameter (``tools.name``).
    """
    document = hub.get("/openapi.json").json()
    paths = []
    for template, operations in document["paths"].items():
        if "get" not in operations:
            continue
        resource = template.removeprefix("/api/v1/").split("/")[0]
        expanded = [template]
        for param in (part[1:-1] for part in template.split("/") if part.startswith("{")):
            given = values.get(f"{resource}.{param}", values.get(param))
            assert given, f"no value to put in {{{param}}} of GET {template}: add one to this test"
            expanded = [path.replace(f"{{{param}}}", value) for path in expanded for value in given]
        paths += expanded
    return paths


async def exercise(hub: HubProcess, kept: Secrets, upstream: str) -> None:
    """Register servers through the API, call their tools (proving they hold their secrets), run a
    workflow and a pattern, so that events, audit entries and logs have something to show."""
    for name, config in {
        "posted": secretive(kept.api_env),
        "posted-remote": remote(upstream, kept.api_header),
    }.items():
        assert hub.post("/api/v1/servers", json={"name": name, "config": config}).status_code == 201
    refused = hub.post(
        "/api/v1/servers",
        json={
            "name": "refused",
            "config": {"type": "http", "url": f"ftp://x/mcp?api_key={kept.refused_url}"},
        },
    )
    assert refused.status_code == 422 and "api_key=***" in refused.text
    assert kept.refused_url not in refused.text
    for name in ("configured", "remote", "posted", "posted-remote"):
        hub.wait_status(name, "healthy")
    async with mcp_client(hub) as client:
        checks = {
            "configured__env_matches": {"name": "SECRETIVE_TOKEN", "sha256": sha256(kept.config_env)},
            "posted__env_matches": {"name": "SECRETIVE_TOKEN", "sha256": sha256(kept.api_env)},
            "remote__header_matches": {"name": "x-api-key", "sha256": sha256(kept.config_header)},
            "posted-remote__header_matches": {"name": "x-api-key", "sha256": sha256(kept.api_header)},
        }
        for tool, arguments in checks.items():
            result = await client.call_tool(tool, arguments)
            assert result.structured_content == {"result": True}, (tool, result)
        await client.call_tool("configured__log_token", {})
        await client.call_tool("posted__log_token", {})
    workflow = {
        "workflow_id": "check-secret",
        "name": "Checks the secret",
        "steps": [
            {
                "id": "check",
                "tool": "configured__env_matches",
                "args": {"name": "SECRETIVE_TOKEN", "sha256": sha256(kept.config_env)},
            }
        ],
    }
    created = hub.post("/api/v1/workflows", json=workflow)
    assert created.status_code == 201, created.text
    execution = hub.post("/api/v1/workflows/check-secret/execute", json={}).json()["execution_id"]
    wait_until(lambda: hub.get(f"/api/v1/executions/{execution}").json()["status"] == "completed", 30)
    applied = hub.post("/api/v1/patterns/restart-and-verify/apply", json={"target": "posted"})
    assert applied.status_code == 202, applied.text
    application = applied.json()["application_id"]
    wait_until(
        lambda: hub.get(f"/api/v1/patterns/applications/{application}").json()["status"] == "completed", 60
    )
    hub.wait_status("posted", "healthy")
    assert hub.post("/api/v1/projects", json={"name": "secret-keepers"}).status_code == 201
    check = {"name": "SECRETIVE_TOKEN", "sha256": sha256(kept.config_env)}
    task = {"capability": "check", "tool": "env_matches", "arguments": check, "project": "secret-keepers"}
    submitted = hub.post("/api/v1/tasks", json=task)
    assert submitted.status_code == 201, submitted.text
    group = hub.post("/api/v1/task-groups", json={"task": task}).json()["id"]
    wait_until(lambda: hub.get(f"/api/v1/task-groups/{group}").json()["state"] == "completed", 30)
    wait_until(lambda: hub.get(f"/api/v1/tasks/{submitted.json()['id']}").json()["state"] == "completed", 30)


def event_stream(hub: HubProcess) -> list[str]:
    """What /ws/events sends: a new session's snapshot, then a replay of every stored event up to it."""
    url = hub.url.replace("http://", "ws://") + "/ws/events"
    protocols: Any = ["bearer", hub.token]
    with connect(url, subprotocols=protocols, open_timeout=10) as ws:
        snapshot = ws.recv(timeout=10)
    head = json.loads(snapshot)["last_event_id"]
    received = [snapshot]
    with connect(url + "?last_event_id=0", subprotocols=protocols, open_timeout=10) as ws:
        while not received[1:] or json.loads(received[-1]).get("id", 0) < head:
            message = ws.recv(timeout=10)
            received.append(message if isinstance(message, str) else message.decode())
    return received


def store_files(hub: HubProcess) -> list[bytes]:
    return [path.read_bytes() for path in hub.data_dir.glob("corral.db*")]


@pytest.mark.anyio
@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_secrets_appear_in_no_answer_event_log_line_audit_entry_or_store_file(
    start_hub: Callable[..., HubProcess], http_upstream: str, log_format: str
) -> None:
    kept = Secrets()
    config = {
        "mcpServers": {
            "configured": {
                **secretive(kept.config_env),
                "agent": {"capabilities": ["check"]},
                "project": "secret-keepers",
            },
            "remote": remote(http_upstream, kept.config_header, kept.config_bearer),
        }
    }
    hub = start_hub(config, "--log-format", log_format, "--log-level", "DEBUG")

    await exercise(hub, kept, http_upstream)
    names = [server["name"] for server in hub.get("/api/v1/servers").json()["items"]]
    values = {
        "name": names,
        "tools.name": [f"{name}__env_matches" for name in names],
        "workflow_id": ["check-secret"],
        "execution_id": [item["execution_id"] for item in hub.get("/api/v1/executions").json()["items"]],
        "pattern_id": [item["id"] for item in hub.get("/api/v1/patterns").json()["items"]],
        "application_id": [
            item["application_id"] for item in hub.get("/api/v1/patterns/applications").json()["items"]
        ],
        "task_id": [item["id"] for item in hub.get("/api/v1/tasks").json()["items"]],
        "group_id": [
            item["group_id"] for item in hub.get("/api/v1/tasks").json()["items"] if item["group_id"]
        ],
        "agent_id": [item["id"] for item in hub.get("/api/v1/agents").json()["items"]],
        "projects.name": ["secret-keepers"],
        "nodes.name": [item["name"] for item in hub.get("/api/v1/nodes").json()["items"]],
    }
    answers = {path: hub.get(path) for path in get_paths(hub, values)}
    answers["/api/v1/audit/export?format=csv"] = hub.get("/api/v1/audit/export?format=csv")
    events = event_stream(hub)
    stderr_tails = [
        answers[f"/api/v1/servers/{name}/logs"].json()["lines"] for name in ("configured", "posted")
    ]
    hub.stop()

    assert all(response.status_code == 200 for response in answers.values()), {
        path: response.status_code for path, response in answers.items() if response.status_code != 200
    }
    assert json.loads(events[0])["type"] == "snapshot" and len(events) > 20
    log = hub.log()
    if log_format == "json":
        assert all(json.loads(line) for line in log.splitlines() if line.startswith("{"))
    for secret in kept.all():
        for path, response in answers.items():
            assert secret not in response.text, path
        assert not [message for message in events if secret in message]
        assert secret not in log
        assert all(secret.encode() not in data for data in store_files(hub))
    # The servers did leak their secrets, and the hub masked them.
    for lines in stderr_tails:
        texts = [line["text"] for line in lines]
        assert "secretive starting with SECRETIVE_TOKEN=***" in texts and "***" in texts


def test_a_hub_restarted_with_another_secrets_key_stops_with_a_clear_error(
    start_hub: Callable[..., HubProcess], tmp_path: Path
) -> None:
    kept = Secrets()
    hub = start_hub({"mcpServers": {"configured": secretive(kept.config_env)}})
    hub.stop()
    assert (hub.data_dir / "secrets.key").stat().st_mode & 0o077 == 0

    restarted = subprocess.run(
        [str(VENV_BIN / "corral"), "serve", "--data-dir", str(hub.data_dir), "--port", str(free_port())],
        cwd=tmp_path,
        env={**os.environ, "CORRAL_SECRETS_KEY": "another key, long enough to be accepted"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    err = " ".join(restarted.stderr.split())

    assert restarted.returncode == 2, err
    assert "error: the stored secrets of server 'configured' cannot be decrypted" in err
    assert "CORRAL_SECRETS_KEY" in err
    assert "Traceback" not in err
    assert kept.config_env not in err
