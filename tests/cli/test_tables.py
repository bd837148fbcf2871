"""The CLI's tables fit the terminal: shorter headers, then the least useful columns left out."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from corral.cli import output
from corral.cli.main import app
from corral.cli.tables import Column, fitted
from tests.support import HubProcess, server_entry

UNSTARTABLE = {"command": "/nonexistent/[/corral]/server-with-a-long-name-that-fails-to-start"}
SERVER = {
    "name": "echo", "transport": "stdio", "status": "healthy", "circuit_state": "closed", "restarts": 0,
    "pid": 4194301, "latency_ms": 1.25, "uptime_s": 3725.0, "tools": [{}, {}], "last_error": None,
}  # fmt: skip
BROKEN = {
    **SERVER, "name": "git-on-gpu-box", "transport": "http", "status": "disconnected",
    "circuit_state": "half_open", "restarts": 12, "pid": None, "latency_ms": None, "uptime_s": None,
    "tools": [], "last_error": "cannot start: [Errno 2] No such file or directory: '/opt/x'\n  more",
}  # fmt: skip


def rendered(width: int, draw: Callable[[], None], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    console = Console(width=width, record=True, highlight=False, soft_wrap=True, force_terminal=False)
    monkeypatch.setattr(output, "out", console)
    draw()
    return console.export_text().splitlines()


@pytest.mark.parametrize("width", [60, 80, 100, 120, 200])
def test_the_servers_table_fits_and_shows_names_states_and_pids_whole(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = rendered(width, lambda: output.servers_table([SERVER, BROKEN]), monkeypatch)
    header = lines[1]

    assert max(len(line) for line in lines) <= width
    assert "…" not in header
    assert lines[5].startswith("└")  # one line a server: nothing wraps
    assert "git-on-gpu-box" in lines[4] and "disconnected" in lines[4]
    if "PID" in header:
        assert "4194301" in lines[3]


def cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("┃").split("┃")]


def test_at_80_columns_the_least_useful_columns_are_left_out_and_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    narrow = rendered(80, lambda: output.servers_table([SERVER, BROKEN]), monkeypatch)
    wide = rendered(200, lambda: output.servers_table([SERVER, BROKEN]), monkeypatch)

    assert narrow[-1] == "not shown, for width: TRANSPORT, LATENCY, UPTIME, TOOLS"
    assert cells(narrow[1]) == ["NAME", "STATUS", "CIRC", "RST", "PID", "ERROR"]
    assert "4194301" in narrow[3]
    assert "cannot start: [" in narrow[4]
    assert cells(wide[1]) == [
        "NAME", "TRANSPORT", "STATUS", "CIRCUIT", "RESTARTS", "PID", "LATENCY", "UPTIME", "TOOLS",
        "LAST ERROR",
    ]  # fmt: skip
    assert "more" in wide[4]  # the error's second line, on the same line of the table


@pytest.mark.parametrize("width", [60, 80])
def test_every_table_of_the_cli_fits(width: int, monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = "2026-12-07T21:46:54.123456+00:00"
    tables: list[Callable[[], None]] = [
        lambda: output.workflows_table(
            [{"workflow_id": "release-notes", "version": 12, "steps": 7,
              "last_execution": "ex_0123456789abcdef0123", "last_status": "completed"}]
        ),
        lambda: output.users_table(
            [{"name": "ada", "role": "admin", "created_at": stamp, "updated_at": stamp}]
        ),
        lambda: output.tokens_table(
            [{"id": "tok_0123456789ab", "name": "prometheus scraper", "role": "viewer", "owner": "ada",
              "state": "active", "expires_at": None, "created_at": stamp}]
        ),
        lambda: output.out.print(
            output._steps_table(
                {"workflow_id": "release-notes", "execution_id": "ex_0123456789abcdef0123",
                 "status": "failed",
                 "steps": [{"key": "files[12]", "status": "failed", "attempt": 3, "duration_s": 1.5,
                            "error": "upstream_error: the server said no " * 5, "uncertain": False}]}
            )
        ),
        lambda: output.tasks_table(
            [{"id": "task_0123456789abcdef", "request": {"capability": "code-review", "tool": "review_pr"},
              "state": "completed", "agent": "gpu-box-1/reviewer", "attempt": 2, "created_at": stamp}]
        ),
        lambda: output.agents_table(
            [{"id": "gpu-box-1/reviewer", "status": "healthy",
              "agent": {"capabilities": ["code-review", "summarise"], "max_concurrent": 4},
              "in_flight": 1, "queued": 12, "completed": 1234, "failed": 5, "mean_latency_ms": 812.4}]
        ),
        lambda: output.task_details(
            {"id": "task_0123456789abcdef", "request": {"tool": "review_pr"}, "state": "failed",
             "error": "every agent failed", "result": None,
             "attempts": [{"number": 1, "agent": "gpu-box-1/reviewer", "state": "failed", "late": False,
                           "error": "upstream_error: the server said no " * 4}]}
        ),
    ]  # fmt: skip
    for draw in tables:
        lines = rendered(width, draw, monkeypatch)
        assert max(len(line) for line in lines) <= width, "\n".join(lines)
        assert not any("…" in line for line in lines if "┃" in line), "\n".join(lines)
        assert any("┃" in line for line in lines)


def test_columns_that_are_never_dropped_stay_even_when_nothing_fits() -> None:
    columns = [Column("NAME"), Column("EXTRA", drop=1)]
    table = fitted(columns, [("a" * 50, "b")], 40)
    assert [column.header for column in table.columns] == ["NAME"]
    assert table.caption == "not shown, for width: EXTRA"


def test_corral_servers_list_in_an_80_column_terminal_fits(start_hub: Callable[..., HubProcess]) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo"), "broken": UNSTARTABLE}})
    hub.wait_status("echo", "healthy")
    runner = CliRunner(env={"COLUMNS": "80"})

    listed = runner.invoke(
        app, ["servers", "list", "--hub", hub.url, "--data-dir", str(hub.data_dir)], catch_exceptions=False
    )
    lines: list[Any] = listed.stdout.splitlines()

    assert listed.exit_code == 0
    assert max(len(line) for line in lines) <= 80, listed.stdout
    assert "NAME" in lines[1] and "STATUS" in lines[1] and "…" not in lines[1]
    assert any("broken" in line and "disconnected" in line for line in lines), listed.stdout
    assert any("echo" in line and "healthy" in line for line in lines), listed.stdout
    assert lines[-1].startswith("not shown, for width: ")
