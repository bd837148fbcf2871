"""Tasks, agents and nodes on the page: moved by the event stream, with each one's details."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.conftest import Dashboard
from tests.support import HubProcess, server_entry, wait_until
from tests.tasks.conftest import worker_entry

pytestmark = pytest.mark.slow

StartHub = Callable[..., HubProcess]

# The browser notes every state each task row shows, in order, as the page changes it.
RECORD_STATES = """() => {
  window.__states = {};
  const note = () => {
    for (const row of document.querySelectorAll("tr[data-task]")) {
      const seen = (window.__states[row.dataset.task] ||= []);
      if (seen[seen.length - 1] !== row.dataset.state) seen.push(row.dataset.state);
    }
  };
  note();
  const everything = { subtree: true, attributes: true, childList: true };
  new MutationObserver(note).observe(document.querySelector("main"), everything);
}"""


def submit(hub: HubProcess, tool: str, **arguments: Any) -> str:
    response = hub.post("/api/v1/tasks", json={"tool": tool, "arguments": arguments})
    assert response.status_code == 201, response.text
    task_id: str = response.json()["id"]
    return task_id


def test_tasks_submitted_through_rest_go_queued_running_completed_live_with_their_attempts(
    start_hub: StartHub, dashboard: Callable[..., Dashboard], tmp_path: Path
) -> None:
    hub = start_hub({"mcpServers": {"w1": worker_entry("w1", tmp_path / "work.jsonl", max_concurrent=1)}})
    wait_until(lambda: hub.get("/api/v1/agents").json()["items"][0]["status"] == "healthy")
    tab = dashboard(hub).open("tasks")
    tab.page.wait_for_selector("[data-empty]")
    tab.page.evaluate(RECORD_STATES)

    first = submit(hub, "w1__work", label="first", seconds=1.0)
    second = submit(hub, "w1__work", label="second", seconds=0.2)  # waits: the agent runs one at a time
    failing = submit(hub, "w1__fail", label="third")
    for task in (first, second, failing):
        tab.page.wait_for_selector(
            f"tr[data-task='{task}'][data-state={'failed' if task == failing else 'completed'}]"
        )

    states = tab.page.evaluate("window.__states")
    assert states[second] == ["queued", "running", "completed"]
    assert states[first][-2:] == ["running", "completed"]
    assert tab.page.locator("tr[data-task]").count() == 3, "one row per task"
    assert tab.page.text_content(f"tr[data-task='{first}'] td:nth-child(3)") == "w1__work"

    tab.page.click(f"tr[data-task='{failing}'] a")
    page = tab.page.locator(f"[data-task-page='{failing}'][data-state=failed]")
    page.wait_for()
    page.locator("[data-table=attempts] tr[data-attempt='1'][data-state=failed]").wait_for()
    assert "third" in (page.locator("[data-error]").text_content() or "")
    tab.go(f"tasks/{second}")
    done = tab.page.locator(f"[data-task-page='{second}'][data-state=completed]")
    done.locator("[data-table=attempts] tr[data-attempt='1'][data-state=completed]").wait_for()
    assert "second" in (done.locator("[data-result]").text_content() or "")
    assert (done.locator("[data-fact=agent] dd").text_content() or "").endswith("/w1")


def test_the_nodes_view_shows_this_hubs_node_and_its_inventory(
    start_hub: StartHub, dashboard: Callable[..., Dashboard]
) -> None:
    hub = start_hub({"mcpServers": {"echo": server_entry("echo")}})
    node = wait_until(
        lambda: (items := hub.get("/api/v1/nodes").json()["items"]) and items[0]["inventory"] and items[0]
    )
    tab = dashboard(hub).open("nodes")
    row = tab.page.locator(f"tr[data-node='{node['name']}'][data-alive=true]")
    row.wait_for()
    assert "(this hub)" in (row.text_content() or "")
    row.locator("a").click()
    detail = tab.page.locator(f"[data-node-page='{node['name']}']")
    detail.wait_for()
    assert detail.locator("[data-fact=cpus] dd").text_content() == str(node["inventory"]["cpus"])
    assert "echo" in (detail.locator("[data-fact=servers] dd").text_content() or "")
    assert "GiB" in (detail.locator("[data-fact=memory] dd").text_content() or "")
