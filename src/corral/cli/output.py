"""Everything the CLI prints: Rich tables for people, JSON for programs, errors on stderr."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from corral.cli.tables import Column, fitted
from corral.config.importer import ImportReport

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)

STATUS_STYLE = {
    "healthy": "green",
    "degraded": "yellow",
    "starting": "cyan",
    "disconnected": "red",
    "circuit_open": "bold red",
    "disabled": "dim",
    "unknown": "dim",
}


def line(text: str) -> None:
    out.print(text, markup=False)


def link(label: str, url: str) -> None:
    """One line a person copies or clicks: never wrapped, so a terminal keeps the address whole."""
    out.print(f"{label}: {url}", markup=False, highlight=False, soft_wrap=True)


def error(text: str) -> None:
    err.print(f"error: {text}", style="red", markup=False)


def json_or(as_json: bool, body: Any, table: Callable[[], None]) -> None:
    if as_json:
        out.print_json(json.dumps(body))
    else:
        table()


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    minutes, seconds = divmod(int(value), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s" if minutes else f"{value:.1f}s"


# Names and states read whole on an 80-column terminal; the error text is cut first, then the columns
# that matter least in a list are left out (``corral servers show`` and --json have them all).
SERVER_COLUMNS = (
    Column("NAME"),
    Column("TRANSPORT", "VIA", drop=1),
    Column("STATUS"),
    Column("CIRCUIT", "CIRC", drop=8),
    Column("RESTARTS", "RST", drop=5),
    Column("PID", drop=6),
    Column("LATENCY", "LAT", drop=3),
    Column("UPTIME", "UP", drop=2),
    Column("TOOLS", drop=4),
    Column("LAST ERROR", "ERROR", drop=7, free_text=True),
)


def servers_table(items: list[dict[str, Any]]) -> None:
    rows = []
    for item in items:
        style = STATUS_STYLE.get(item["status"], "")
        latency = "-" if item["latency_ms"] is None else f"{item['latency_ms']:.1f} ms"
        rows.append(
            (
                escape(item["name"]),
                item["transport"],
                f"[{style}]{item['status']}[/]",
                item["circuit_state"],
                str(item["restarts"]),
                str(item["pid"] or "-"),
                latency,
                _seconds(item["uptime_s"]),
                str(len(item["tools"])),
                escape(" ".join((item["last_error"] or "").split())[:200]),
            )
        )
    out.print(fitted(SERVER_COLUMNS, rows, out.width))


def server_details(item: dict[str, Any]) -> None:
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column()
    fields = (
        "name",
        "transport",
        "status",
        "detail",
        "circuit_state",
        "consecutive_failures",
        "restarts",
        "pid",
        "latency_ms",
        "uptime_s",
        "total_downtime_s",
        "last_recovery_at",
        "last_error",
        "calls_in_flight",
    )
    for key in fields:
        value = item.get(key)
        table.add_row(key, "-" if value is None else escape(str(value)))
    check = item.get("last_check")
    if check:
        table.add_row("last_check", escape(f"{check['reason']}: {check['message']}"))
    table.add_row("tools", escape(", ".join(tool["name"] for tool in item["tools"])) or "-")
    out.print(table)


def log_lines(lines: list[dict[str, Any]]) -> None:
    for entry in lines:
        # Server output is arbitrary text: escape it so Rich does not read it as markup.
        out.print(f"[dim]{entry['time'][11:23]}[/] {escape(entry['text'])}", markup=True, highlight=False)


def import_report(report: ImportReport, into: Path) -> None:
    for name in report.added:
        line(f"added     {name}")
    for name in report.replaced:
        line(f"replaced  {name}")
    for name in report.skipped:
        line(f"skipped   {name} (already in {into}; --replace to overwrite)")
    for name in report.unchecked:
        line(f"unchecked {name}: it refers to environment variables that are not set here")
    if report.added or report.replaced:
        line(f"wrote {into}")


STEP_STYLE = {
    "completed": "green",
    "running": "cyan",
    "failed": "red",
    "skipped": "dim",
    "cancelled": "yellow",
    "pending": "",
}


WORKFLOW_COLUMNS = (
    Column("WORKFLOW"),
    Column("VERSION", "VER", drop=2),
    Column("STEPS", drop=1),
    Column("LAST EXECUTION", "LAST RUN", drop=3),
    Column("LAST STATUS", "STATUS", drop=4),
)


def workflows_table(items: list[dict[str, Any]]) -> None:
    rows = [
        (
            escape(item["workflow_id"]), str(item["version"]), str(item["steps"]),
            escape(item["last_execution"] or "-"), item["last_status"] or "-",
        )
        for item in items
    ]  # fmt: skip
    out.print(fitted(WORKFLOW_COLUMNS, rows, out.width))


STEP_COLUMNS = (
    Column("STEP"),
    Column("STATUS"),
    Column("ATTEMPT", "TRY", drop=1),
    Column("SECONDS", "SECS", drop=2),
    Column("DETAIL", drop=3, free_text=True),
)


def _steps_table(state: dict[str, Any]) -> Table:
    rows = []
    for run in state["steps"]:
        style = STEP_STYLE.get(run["status"], "")
        detail = run["error"] or ("held for a decision" if run["uncertain"] else "")
        seconds = "-" if run["duration_s"] is None else f"{run['duration_s']:.2f}"
        status = f"[{style}]{run['status']}[/]" if style else run["status"]
        rows.append(
            (escape(run["key"]), status, str(run["attempt"]), seconds, escape(" ".join(str(detail).split())))
        )
    title = f"{state['workflow_id']} · {state['execution_id']} · {state['status']}"
    return fitted(STEP_COLUMNS, rows, out.width, title=escape(title))


class ExecutionView:
    """A live table of an execution's steps, redrawn as events arrive."""

    def __init__(self, live: Live) -> None:
        self._live = live

    def update(self, state: dict[str, Any], events: list[dict[str, Any]]) -> None:
        self._live.update(_steps_table(state))
        for event in events:
            if event["type"] == "step.failed" or event["type"] == "step.retrying":
                self._live.console.print(
                    f"[yellow]{event['type']}[/] {escape(str(event['step']))}: "
                    f"{escape(str(event['data'].get('error', '')))}"
                )


@contextmanager
def execution_view() -> Iterator[ExecutionView]:
    with Live(console=out, refresh_per_second=8, transient=False) as live:
        yield ExecutionView(live)
    if not out.is_terminal:
        out.line()


def execution_summary(state: dict[str, Any]) -> None:
    progress = f"{state['progress'] * 100:.0f}%"
    message = f"{state['execution_id']}: {state['status']} ({progress})"
    if state.get("error"):
        message += f": {state['error']}"
    if state.get("estimated_completion"):
        message += f"; expected by {state['estimated_completion']}"
    line(message)


USER_COLUMNS = (Column("NAME"), Column("ROLE"), Column("CREATED", drop=2), Column("UPDATED", drop=1))


def users_table(items: list[dict[str, Any]]) -> None:
    rows = [
        (escape(item["name"]), item["role"], item["created_at"][:19], item["updated_at"][:19])
        for item in items
    ]
    out.print(fitted(USER_COLUMNS, rows, out.width))


TOKEN_STYLE = {"active": "green", "expired": "dim", "revoked": "dim"}


TOKEN_COLUMNS = (
    Column("ID"),
    Column("NAME", drop=4, free_text=True),
    Column("ROLE"),
    Column("OWNER", drop=3),
    Column("STATE"),
    Column("EXPIRES", drop=2),
    Column("CREATED", drop=1),
)


def tokens_table(items: list[dict[str, Any]]) -> None:
    rows = []
    for item in items:
        style = TOKEN_STYLE.get(item["state"], "")
        rows.append((
            escape(item["id"]), escape(item["name"]), item["role"], escape(item["owner"] or "(admin token)"),
            f"[{style}]{item['state']}[/]", (item["expires_at"] or "never")[:19], item["created_at"][:19],
        ))  # fmt: skip
    out.print(fitted(TOKEN_COLUMNS, rows, out.width))


def new_token(item: dict[str, Any]) -> None:
    """The token itself goes alone on stdout, so ``$(corral token create …)`` captures just it."""
    expires = item["expires_at"][:19] if item["expires_at"] else "never"
    err.print(
        f"token {item['id']} ({item['role']}, expires {expires}); it is shown once, keep it now:",
        markup=False,
    )
    line(item["token"])


TASK_STYLE = {"completed": "green", "failed": "red", "cancelled": "yellow", "held": "magenta"}


TASK_COLUMNS = (
    Column("TASK"),
    Column("STATE"),
    Column("WHAT", drop=4, free_text=True),
    Column("AGENT", drop=3),
    Column("TRIES", drop=1),
    Column("CREATED", drop=2),
)


TASK_COLUMNS = (
    Column("TASK"),
    Column("STATE"),
    Column("WHAT", free_text=True),
    Column("AGENT", drop=2),
    Column("TRIES", "TRY", drop=1),
    Column("CREATED", drop=3),
)


def tasks_table(items: list[dict[str, Any]]) -> None:
    rows = []
    for item in items:
        request = item["request"]
        what = request.get("capability") or ""
        what = f"{what}:{request['tool']}" if what else request.get("tool") or "-"
        style = TASK_STYLE.get(item["state"], "")
        state = f"[{style}]{item['state']}[/]" if style else item["state"]
        rows.append(
            (item["id"], state, escape(what), escape(item["agent"] or "-"), str(item["attempt"]),
             item["created_at"][:19].replace("T", " "))
        )  # fmt: skip
    out.print(fitted(TASK_COLUMNS, rows, out.width))


def task_details(item: dict[str, Any]) -> None:
    request = item["request"]
    what = " ".join(part for part in (request.get("capability"), request.get("tool")) if part)
    line(f"{item['id']} · {item['state']} · {what}")
    if item.get("error"):
        line(f"error: {item['error']}")
    if item["state"] == "completed":
        line(f"result: {json.dumps(item['result'])[:2000]}")
    rows = [
        (
            str(attempt["number"]),
            escape(attempt["agent"]),
            attempt["state"] + (" (late)" if attempt["late"] else ""),
            escape(" ".join((attempt["error"] or "").split())),
        )
        for attempt in item.get("attempts", [])
    ]
    out.print(fitted(ATTEMPT_COLUMNS, rows, out.width))


ATTEMPT_COLUMNS = (
    Column("ATTEMPT", "TRY"),
    Column("AGENT"),
    Column("STATE"),
    Column("ERROR", drop=1, free_text=True),
)


AGENT_COLUMNS = (
    Column("AGENT"),
    Column("STATUS"),
    Column("CAPABILITIES", "CAPS", drop=6, free_text=True),
    Column("RUNNING", "RUN", drop=5),
    Column("QUEUED", "QUE", drop=4),
    Column("DONE", drop=2),
    Column("FAILED", "FAIL", drop=3),
    Column("MEAN MS", "MS", drop=1),
)


AGENT_COLUMNS = (
    Column("AGENT"),
    Column("STATUS"),
    Column("CAPABILITIES", "CAPS", free_text=True),
    Column("RUNNING", "RUN"),
    Column("QUEUED", "WAIT", drop=2),
    Column("DONE", drop=3),
    Column("FAILED", "FAIL", drop=4),
    Column("MEAN MS", "MS", drop=1),
)


def agents_table(items: list[dict[str, Any]]) -> None:
    rows = []
    for item in items:
        spec = item["agent"]
        mean = "-" if item["mean_latency_ms"] is None else f"{item['mean_latency_ms']:.0f}"
        rows.append(
            (escape(item["id"]), item["status"], escape(", ".join(spec["capabilities"]) or "-"),
             f"{item['in_flight']}/{spec['max_concurrent']}", str(item["queued"]), str(item["completed"]),
             str(item["failed"]), mean)
        )  # fmt: skip
    out.print(fitted(AGENT_COLUMNS, rows, out.width))


PROJECT_COLUMNS = (
    Column("PROJECT"),
    Column("SERVERS", "SRV"),
    Column("AGENTS", "AGT", drop=2),
    Column("WORKFLOWS", "WF", drop=1),
    Column("DESCRIPTION", free_text=True),
)


def projects_table(items: list[dict[str, Any]]) -> None:
    rows = [
        (escape(item["name"]), str(len(item["servers"])), str(len(item["agents"])),
         str(len(item["workflows"])), escape(item["description"] or "-"))
        for item in items
    ]  # fmt: skip
    out.print(fitted(PROJECT_COLUMNS, rows, out.width))
