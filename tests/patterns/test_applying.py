"""Applying the built-in patterns to real servers supervised by a real `corral serve`, through REST."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support import SERVERS, HubProcess, server_entry, wait_until

FAST = {
    "ping_interval_s": 0.5,
    "restart_initial_s": 0.1,
    "restart_max_s": 0.5,
    "cooldown_s": 30,
    "crash_limit": 3,
}


def tagged(entry: dict[str, Any], *tags: str) -> dict[str, Any]:
    return {**entry, "tags": list(tags)}


def breaks_after_restart(marker: Path) -> dict[str, Any]:
    """The echo server, started by a wrapper that exits 3 once ``marker`` exists: a restart that fails."""
    echo = SERVERS / "echo.py"
    script = (
        f'if [ -e "{marker}" ]; then echo "broken deploy" >&2; exit 3; fi; exec "{sys.executable}" "{echo}"'
    )
    return {"command": "/bin/sh", "args": ["-c", script]}


def apply(hub: HubProcess, pattern: str, target: str, **params: Any) -> dict[str, Any]:
    response = hub.post(f"/api/v1/patterns/{pattern}/apply", json={"target": target, "params": params})
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


def finished(hub: HubProcess, application_id: str, timeout: float = 60.0) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body: dict[str, Any] = hub.get(f"/api/v1/patterns/applications/{application_id}").json()
        return body if body["status"] not in ("pending", "running") else None

    result: dict[str, Any] = wait_until(done, timeout)
    return result


def execution(hub: HubProcess, execution_id: str) -> dict[str, Any]:
    body: dict[str, Any] = hub.get(f"/api/v1/executions/{execution_id}").json()
    return body


def test_restart_and_verify_restarts_a_real_server_and_the_application_completes(
    start_hub: Callable[..., HubProcess],
) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo")}, "settings": FAST})
    before = hub.wait_status("echo", "healthy")

    application = apply(hub, "restart-and-verify", "echo", timeout_s=20)
    done = finished(hub, application["application_id"])

    after = hub.wait_status("echo", "healthy")
    assert done["status"] == "completed", done["error"]
    assert after["pid"] != before["pid"] and after["restarts"] == before["restarts"] + 1
    steps = done["results"]["steps"]
    assert [steps[step]["status"] for step in ("restart", "healthy", "answers")] == ["completed"] * 3
    assert steps["restart"]["result"]["previous_pid"] == before["pid"]
    assert steps["healthy"]["result"]["pid"] == after["pid"]
    assert {"echo", "add"} <= {tool["name"] for tool in steps["answers"]["result"]["tools"]}
    assert done["validation"]["ok"] is True and done["params"] == {"timeout_s": 20}
    assert done["workflow_id"] == "pattern.restart-and-verify.echo"
    workflow = hub.get("/api/v1/workflows/pattern.restart-and-verify.echo").json()
    assert workflow["definition"]["pattern"] == "restart-and-verify"
    assert workflow["definition"]["steps"][0]["args"]["name"] == "echo"


def test_rolling_restart_restarts_every_tagged_server_one_at_a_time(
    start_hub: Callable[..., HubProcess],
) -> None:
    servers = {
        "web-a": tagged(server_entry("echo"), "web"),
        "web-b": tagged(server_entry("echo"), "web"),
        "db": tagged(server_entry("echo"), "db"),
    }
    hub = start_hub({"mcpServers": servers, "settings": FAST})
    before = {name: hub.wait_status(name, "healthy") for name in servers}

    done = finished(hub, apply(hub, "rolling-restart", "web", timeout_s=20)["application_id"])

    assert done["status"] == "completed", done["error"]
    after = {name: hub.wait_status(name, "healthy") for name in servers}
    for name in ("web-a", "web-b"):
        assert after[name]["pid"] != before[name]["pid"]
        assert after[name]["restarts"] == before[name]["restarts"] + 1
    assert after["db"]["pid"] == before["db"]["pid"] and after["db"]["restarts"] == before["db"]["restarts"]
    runs = {run["key"]: run for run in execution(hub, done["execution_id"])["steps"]}
    assert runs["restart_1"]["result"]["name"] == "web-a" and runs["restart_2"]["result"]["name"] == "web-b"
    assert runs["restart_1"]["finished_at"] <= runs["restart_2"]["started_at"]
    assert runs["restart_2"]["result"]["pid"] == after["web-b"]["pid"]


def test_rolling_restart_stops_at_the_first_server_that_does_not_come_back(
    start_hub: Callable[..., HubProcess], tmp_path: Path
) -> None:
    marker = tmp_path / "broken"
    servers = {
        "web-a": tagged(breaks_after_restart(marker), "web"),
        "web-b": tagged(server_entry("echo"), "web"),
    }
    hub = start_hub({"mcpServers": servers, "settings": FAST})
    before = {name: hub.wait_status(name, "healthy") for name in servers}
    marker.write_text("the next start of web-a fails")

    done = finished(hub, apply(hub, "rolling-restart", "web", timeout_s=6)["application_id"])

    assert done["status"] == "failed"
    steps = done["results"]["steps"]
    assert steps["restart_1"]["status"] == "failed"
    assert "'web-a' did not serve within 6s" in steps["restart_1"]["error"]
    assert steps["restart_2"]["status"] == "not_run"
    assert "restart_1" in done["error"]
    web_b = hub.server("web-b")
    assert web_b["pid"] == before["web-b"]["pid"] and web_b["restarts"] == before["web-b"]["restarts"]
    assert hub.server("web-a")["status"] != "healthy"


def test_smoke_test_calls_only_the_read_only_tools_and_reports_each_outcome(
    start_hub: Callable[..., HubProcess], tmp_path: Path
) -> None:
    records = tmp_path / "records.jsonl"
    servers = {"echo": server_entry("echo"), "rec": server_entry("recorder", RECORDER_FILE=str(records))}
    hub = start_hub({"mcpServers": servers, "settings": FAST})
    hub.wait_status("echo", "healthy")
    hub.wait_status("rec", "healthy")

    echo = finished(hub, apply(hub, "smoke-test", "echo")["application_id"])
    rec = finished(hub, apply(hub, "smoke-test", "rec")["application_id"])

    assert echo["status"] == "completed", echo["error"]
    (outcome,) = echo["results"]["steps"]["probe"]["result"]
    assert outcome == {
        "server": "echo",
        "tool": "echo",
        "ok": True,
        "answered": True,
        "outcome": "ok",
        "result": "",
        "duration_ms": outcome["duration_ms"],
    }
    assert [tool["name"] for tool in echo["results"]["steps"]["tools"]["result"]["tools"]] == ["echo"]
    assert rec["status"] == "completed" and rec["results"]["steps"]["probe"]["result"] == []
    assert not records.exists(), "the recorder's tools are not read-only and must not have been called"


def test_validation_names_every_failing_precondition_and_parameter_and_apply_records_the_rejection(
    start_hub: Callable[..., HubProcess],
) -> None:
    servers = {"crashy": server_entry("crashing", CRASH_ON_START="1")}
    hub = start_hub({"mcpServers": servers, "settings": FAST})
    body = {"target": "crashy", "params": {"call_timeout_s": "soon", "colour": "red"}}

    report = hub.post("/api/v1/patterns/smoke-test/validate", json=body).json()
    refused = hub.post("/api/v1/patterns/smoke-test/apply", json=body)
    missing = hub.post("/api/v1/patterns/smoke-test/validate", json={"target": "ghost"}).json()

    assert report["ok"] is False
    assert [(item["precondition"], item["passed"]) for item in report["preconditions"]] == [
        ("exists", True),
        ("enabled", True),
        ("healthy", False),
    ]
    assert report["errors"][0].startswith("preconditions.healthy: 'crashy' is ")
    assert report["errors"][1:] == [
        "params.colour: not a parameter of this pattern (it takes: call_timeout_s)",
        "params.call_timeout_s: expected number, got str",
    ]
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["errors"][0].startswith("preconditions.healthy: 'crashy' is ")
    assert problem["errors"][1:] == report["errors"][1:]
    assert [item["passed"] for item in missing["preconditions"]] == [False, False, False]
    rejected = hub.get("/api/v1/patterns/applications", params={"status": "rejected"}).json()["items"]
    assert len(rejected) == 1 and rejected[0]["target"] == "crashy" and rejected[0]["execution_id"] is None
    assert rejected[0]["application_id"] in problem["detail"]
    assert hub.get("/api/v1/patterns/nope").status_code == 404


def test_patterns_are_listed_and_shown_with_their_templates(start_hub: Callable[..., HubProcess]) -> None:
    hub = start_hub({"mcpServers": {}})

    listing = hub.get("/api/v1/patterns").json()
    rolling = hub.get("/api/v1/patterns/rolling-restart").json()

    assert [item["id"] for item in listing["items"]] == [
        "restart-and-verify",
        "rolling-restart",
        "smoke-test",
    ]
    assert listing["problems"] == []
    assert rolling["target"] == "tag" and rolling["preconditions"] == ["exists", "enabled", "healthy"]
    assert rolling["workflow"]["steps"][0]["each"] == "members"
    assert rolling["source"] == "builtin/rolling-restart.yaml"
