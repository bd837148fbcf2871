"""Log lines: JSON objects or text, each with the context bound where it was logged; a real
``corral serve --log-format json`` names the server or the execution on the lines about one."""

from __future__ import annotations

import json
import logging
import signal
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from corral.cli.logs import configure_logging
from corral.observability.logcontext import bound
from tests.support import HubProcess, server_entry, wait_until

GREETING = {
    "workflow_id": "greeting",
    "name": "Greets",
    "steps": [{"id": "hello", "tool": "echo__echo", "args": {"text": "hello"}}],
}


@pytest.fixture
def configured(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[str], logging.Logger]]:
    """``configure("json")``: the CLI's logging set-up, writing to the captured stderr; undone after."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}

    def configure(fmt: str) -> logging.Logger:
        configure_logging(fmt, "INFO")
        return logging.getLogger("corral.tests")

    yield configure
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in logging.root.manager.loggerDict:
        logging.getLogger(name).setLevel(levels.get(name, logging.NOTSET))


def test_json_lines_carry_the_bound_fields_as_keys(
    configured: Callable[[str], logging.Logger], capsys: pytest.CaptureFixture[str]
) -> None:
    logger = configured("json")
    with bound(server="echo", tool="echo"), bound(execution="ex_1", step="hello"):
        logger.info("called %s", "echo")
    logger.info("nothing bound")

    first, second = (json.loads(line) for line in capsys.readouterr().err.splitlines())
    assert first["message"] == "called echo"
    assert {key: first[key] for key in ("server", "tool", "execution", "step")} == {
        "server": "echo",
        "tool": "echo",
        "execution": "ex_1",
        "step": "hello",
    }
    assert set(second) == {"time", "level", "logger", "message"}


def test_text_lines_end_with_the_fields_as_key_value_before_any_traceback(
    configured: Callable[[str], logging.Logger], capsys: pytest.CaptureFixture[str]
) -> None:
    logger = configured("text")
    with bound(server="echo", step="a step"):
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("it failed")

    first, *traceback = capsys.readouterr().err.splitlines()
    assert first.endswith('corral.tests: it failed server=echo step="a step"')
    assert traceback[0] == "Traceback (most recent call last):"
    assert traceback[-1] == "ValueError: boom"


def test_serve_names_the_server_or_the_execution_on_each_json_line_about_one(
    start_hub: Callable[..., HubProcess],
) -> None:
    config = {
        "mcpServers": {"echo": server_entry("echo"), "broken": server_entry("crashing", CRASH_ON_START="1")},
        "settings": {"restart_initial_s": 0.1, "restart_max_s": 0.2},
    }
    hub = start_hub(config, "--log-format", "json")
    hub.wait_status("echo", "healthy")
    assert hub.post("/api/v1/workflows", json=GREETING).status_code == 201
    execution_id = hub.post("/api/v1/workflows/greeting/execute", json={}).json()["execution_id"]
    wait_until(lambda: hub.get(f"/api/v1/executions/{execution_id}").json()["status"] == "completed")
    wait_until(lambda: hub.server("broken")["restarts"] >= 2)
    token = hub.headers()["Authorization"].removeprefix("Bearer ")
    assert hub.stop(signal.SIGTERM) == 0

    log = hub.log()
    lines: list[dict[str, Any]] = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    runner = [line for line in lines if line["logger"] == "corral.supervisor.runner"]
    engine = [line for line in lines if line["logger"] == "corral.workflow.engine"]
    # Each message still names its subject (for the text format); the field must agree with it.
    assert runner and all(line["message"].startswith(f"server {line['server']}: ") for line in runner)
    assert {line["server"] for line in runner} == {"echo", "broken"}
    assert any("→ disconnected" in line["message"] for line in runner if line["server"] == "broken")
    about_execution = [line for line in engine if line["message"].startswith("execution ")]
    assert [(line["message"], line["execution"], line["workflow"]) for line in about_execution] == [
        (f"execution {execution_id} completed", execution_id, "greeting")
    ]
    assert token not in log
