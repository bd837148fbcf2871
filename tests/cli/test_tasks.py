"""``corral tasks …`` and ``corral agents …`` against a running ``corral serve`` with worker agents."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from click.testing import Result

from tests.cli.conftest import Exited
from tests.cli.test_servers import hub_options
from tests.support import HubProcess
from tests.tasks.conftest import worker_entry


def test_submit_follow_list_show_and_cancel_a_task(
    tmp_path: Path,
    start_hub: Callable[..., HubProcess],
    cli: Callable[..., Result],
    corral: Callable[..., Exited],
) -> None:
    record = tmp_path / "work.jsonl"
    hub = start_hub({"mcpServers": {"w1": worker_entry("w1", record), "w2": worker_entry("w2", record)}})
    for name in ("w1", "w2"):
        hub.wait_status(name, "healthy")
    options = hub_options(hub)

    followed = cli(
        "tasks",
        "submit",
        "--capability",
        "build",
        "--tool",
        "work",
        "-a",
        "label=x",
        "-a",
        "seconds=1",
        "--follow",
        *options,
    )
    failed = cli("tasks", "submit", "--tool", "w1__fail", "--follow", *options)
    listed = cli("tasks", "list", "--json", *options)
    tasks = json.loads(listed.stdout)["items"]
    shown = cli("tasks", "show", tasks[-1]["id"], *options)
    cancel_finished = corral("tasks", "cancel", tasks[-1]["id"], *options)
    agents = cli("agents", "list", *options)
    unknown = corral("tasks", "submit", "--capability", "paint", "--tool", "work", *options)

    assert followed.exit_code == 0, followed.stdout
    assert "started" in followed.stdout and "completed" in followed.stdout, "pushed as it happened"
    assert '"label": "x"' in followed.stdout
    assert failed.exit_code == 1 and "failed" in failed.stdout
    assert [task["state"] for task in tasks] == ["failed", "completed"]
    assert shown.exit_code == 0 and "completed" in shown.stdout
    assert cancel_finished.code == 1 and "has already finished (completed)" in cancel_finished.err
    assert agents.exit_code == 0 and "/w1" in agents.stdout and "/w2" in agents.stdout
    assert unknown.code == 1 and "unknown capability 'paint'; agents offer: build" in unknown.err


def test_projects_are_made_listed_shown_and_deleted_from_the_cli(
    tmp_path: Path,
    start_hub: Callable[..., HubProcess],
    cli: Callable[..., Result],
    corral: Callable[..., Exited],
) -> None:
    record = tmp_path / "work.jsonl"
    hub = start_hub({"mcpServers": {"w1": {**worker_entry("w1", record), "project": "web"}}})
    options = hub_options(hub)

    created = cli("projects", "create", "web", "--description", "the site", *options)
    listed = cli("projects", "list", *options)
    shown = json.loads(cli("projects", "show", "web", *options).stdout)
    in_use = corral("projects", "delete", "web", *options)
    cli("projects", "create", "spare", *options)
    deleted = cli("projects", "delete", "spare", *options)
    missing = corral("projects", "show", "spare", *options)

    assert created.exit_code == 0 and "project web created" in created.stdout
    assert "web" in listed.stdout and "the site" in listed.stdout
    assert shown["servers"] == ["w1"] and shown["metrics"]["calls"] == 0
    assert in_use.code == 1 and "still has members (w1)" in in_use.err
    assert deleted.exit_code == 0 and "project spare deleted" in deleted.stdout
    assert missing.code == 4 and "no project 'spare'" in missing.err
