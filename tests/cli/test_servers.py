"""``corral servers ...`` against a running ``corral serve`` process."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import psutil
from click.testing import Result

from tests.cli.conftest import Exited
from tests.support import HubProcess, free_port, server_entry, wait_until

# A command that cannot start; its error names a path that Rich would misread as markup.
UNSTARTABLE = {"command": "/nonexistent/[/corral]/server"}


def hub_options(hub: HubProcess) -> list[str]:
    return ["--hub", hub.url, "--data-dir", str(hub.data_dir)]


def test_list_show_and_logs_name_the_server(
    start_hub: Callable[..., HubProcess], cli: Callable[..., Result]
) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo"), "broken": UNSTARTABLE}})
    options = hub_options(hub)

    listed = cli("servers", "list", *options)
    listed_json = cli("servers", "list", "--json", *options)
    shown = cli("servers", "show", "echo", *options)
    shown_broken = cli("servers", "show", "broken", *options)
    logs = cli("servers", "logs", "echo", *options)

    assert [result.exit_code for result in (listed, listed_json, shown, shown_broken, logs)] == [0] * 5
    assert "echo" in listed.stdout
    assert "broken" in listed.stdout
    items = {item["name"]: item for item in json.loads(listed_json.stdout)["items"]}
    assert items["echo"]["status"] == "healthy"
    assert items["broken"]["last_error"].startswith("cannot start")
    assert "echo" in shown.stdout
    assert "healthy" in shown.stdout
    assert "echo, add" in shown.stdout
    assert "/nonexistent/[/corral]/server" in shown_broken.stdout
    assert f"[corral] started pid {items['echo']['pid']}" in logs.stdout


def test_disable_enable_and_restart_change_the_server(
    start_hub: Callable[..., HubProcess], cli: Callable[..., Result]
) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo")}})
    options = hub_options(hub)
    first_pid = hub.wait_status("echo", "healthy")["pid"]

    disabled = cli("servers", "disable", "echo", *options)
    hub.wait_status("echo", "disabled")
    first_gone = not psutil.pid_exists(first_pid)
    enabled = cli("servers", "enable", "echo", *options)
    second_pid = hub.wait_status("echo", "healthy")["pid"]
    restarted = cli("servers", "restart", "echo", *options)

    def restarted_once() -> dict[str, Any] | None:
        body = hub.server("echo")
        return body if (body["restarts"], body["status"]) == (1, "healthy") else None

    final = wait_until(restarted_once)

    assert (disabled.exit_code, enabled.exit_code, restarted.exit_code) == (0, 0, 0)
    assert disabled.stdout.startswith("echo: disable requested")
    assert enabled.stdout.startswith("echo: enable requested")
    assert restarted.stdout.startswith("echo: restart requested")
    assert first_gone
    assert second_pid != first_pid
    assert final["pid"] not in (first_pid, second_pid)


def test_an_unknown_server_exits_with_code_4_and_a_refused_token_with_code_3(
    start_hub: Callable[..., HubProcess], corral: Callable[..., Exited]
) -> None:
    hub = start_hub({"mcpServers": {}})

    unknown = [
        corral("servers", command, "ghost", *hub_options(hub)) for command in ("show", "logs", "restart")
    ]
    wrong = corral("servers", "list", "--hub", hub.url, "--token", "corral_wrong")
    missing = corral("servers", "list", "--hub", hub.url, "--data-dir", str(hub.data_dir / "elsewhere"))

    for run in unknown:
        assert (run.code, run.err) == (4, "error: no server named 'ghost'")
    assert (wrong.code, missing.code) == (3, 3)
    assert wrong.err.startswith("error: the hub refused the token: invalid bearer token")
    assert missing.err.startswith("error: the hub refused the token: missing bearer token")


def test_an_unreachable_hub_exits_with_code_5_asking_whether_serve_runs(
    corral: Callable[..., Exited],
) -> None:
    url = f"http://127.0.0.1:{free_port()}"

    run = corral("servers", "list", "--hub", url)

    assert run.code == 5
    assert run.err.startswith(f"error: cannot reach the hub at {url}")
    assert run.err.endswith("is `corral serve` running?")
