"""Every REST change lands in the audit log; the log is searched, paged and exported."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.api.authz_support import add_user, audit_entries, bearer, login, token_for
from tests.rig import RunHub, RunningHub
from tests.support import server_entry

pytestmark = pytest.mark.anyio

PARKED_ECHO = {**server_entry("echo"), "disabled": True}


async def all_entries(running: RunningHub, count: int, **filters: str) -> list[dict[str, Any]]:
    """Wait (bounded) until ``count`` entries match, then return them, newest first."""
    return await audit_entries(running, count, **filters, limit=str(count + 10))


async def test_a_change_is_audited_with_who_what_target_when_where_and_outcome(run_hub: RunHub) -> None:
    async with run_hub({"echo": PARKED_ECHO}) as running, running.anonymous() as anon:
        await add_user(running.client, "otto", "operator")
        anon.headers.update(bearer(await login(anon, "otto")))
        operator = await token_for(anon, role="operator")
        started = datetime.now().astimezone()
        restart = await anon.post("/api/v1/servers/echo/restart", headers=bearer(operator["token"]))
        refused = await anon.patch(
            "/api/v1/settings", headers=bearer(operator["token"]), json={"cooldown_s": 1}
        )
        registered = await running.client.post(
            "/api/v1/servers", json={"name": "second", "config": PARKED_ECHO}
        )
        await anon.get("/api/v1/servers", headers=bearer(operator["token"]))

        entries = await all_entries(running, 6)

    assert (restart.status_code, refused.status_code, registered.status_code) == (202, 403, 201)
    by_action = {entry["action"]: entry for entry in entries}
    assert list(by_action) == [
        "servers.create", "settings.update", "servers.restart", "tokens.create", "auth.login", "users.create"
    ]  # fmt: skip
    restarted = by_action["servers.restart"]
    assert (restarted["actor"], restarted["target"], restarted["outcome"]) == ("otto", "servers/echo", "ok")
    assert restarted["source"] == "127.0.0.1"
    assert restarted["detail"] == {"method": "POST", "status": 202, "token": operator["id"]}
    assert started - timedelta(seconds=1) <= datetime.fromisoformat(restarted["time"])
    assert restarted["duration_ms"] >= 0
    denied = by_action["settings.update"]
    assert (denied["actor"], denied["target"], denied["outcome"]) == ("otto", "settings", "forbidden")
    assert (by_action["servers.create"]["actor"], by_action["servers.create"]["target"]) == (
        "admin", "servers/second"
    )  # fmt: skip
    assert by_action["tokens.create"]["target"] == f"tokens/{operator['id']}"
    assert by_action["tokens.create"]["detail"]["role"] == "operator"
    assert (by_action["auth.login"]["actor"], by_action["auth.login"]["outcome"]) == ("otto", "ok")
    assert by_action["users.create"]["target"] == "users/otto"
    assert "password" not in json.dumps(entries).replace('"users.password"', "")


async def test_a_failed_login_is_audited_under_the_name_tried(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anon:
        await anon.post("/api/v1/auth/login", json={"username": "mallory", "password": "guess guess"})

        (entry,) = await audit_entries(running, action="auth.login")

    assert (entry["actor"], entry["target"], entry["outcome"]) == (
        "mallory",
        "users/mallory",
        "invalid_credentials",
    )
    assert entry["detail"]["status"] == 401
    assert "guess" not in json.dumps(entry)


async def test_the_audit_log_filters_and_pages_newest_first(run_hub: RunHub) -> None:
    async with run_hub({"echo": PARKED_ECHO}) as running:
        for verb in ("restart", "reload", "enable", "disable", "restart"):
            await running.client.post(f"/api/v1/servers/echo/{verb}")
        await running.client.post("/api/v1/servers/ghost/restart")
        await running.client.patch("/api/v1/settings", json={"cooldown_s": 2})
        everything = await all_entries(running, 7)
        middle = datetime.fromisoformat(everything[3]["time"])

        pages, cursor = [], None
        while True:
            params = {"limit": "3", **({"cursor": cursor} if cursor else {})}
            page = (await running.client.get("/api/v1/audit", params=params)).json()
            pages.append([entry["id"] for entry in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break

        async def ids(**params: str) -> list[int]:
            response = await running.client.get("/api/v1/audit", params=params)
            assert response.status_code == 200, response.text
            return [entry["id"] for entry in response.json()["items"]]

        restarts = await ids(action="servers.restart")
        on_echo = await ids(target="servers/echo")
        on_servers = await ids(target="servers/*")
        not_found = await ids(outcome="not_found")
        by_admin = await ids(actor="admin")
        by_nobody = await ids(actor="nobody")
        since = await ids(since=middle.isoformat())
        until = await ids(until=middle.isoformat())
        bad_cursor = await running.client.get("/api/v1/audit", params={"cursor": "yesterday"})

    all_ids = [entry["id"] for entry in everything]
    assert all_ids == sorted(all_ids, reverse=True)
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [entry_id for page in pages for entry_id in page] == all_ids
    by_id = {entry["id"]: entry for entry in everything}
    assert {by_id[i]["action"] for i in restarts} == {"servers.restart"} and len(restarts) == 3
    assert len(on_echo) == 5
    assert set(on_servers) == set(on_echo) | set(not_found)
    assert [by_id[i]["target"] for i in not_found] == ["servers/ghost"]
    assert by_admin == all_ids
    assert by_nobody == []
    assert set(since) | set(until) == set(all_ids) and not set(since) & set(until)
    assert everything[3]["id"] in since
    assert (bad_cursor.status_code, bad_cursor.json()["code"]) == (422, "invalid_cursor")


async def test_reading_is_not_audited(run_hub: RunHub) -> None:
    async with run_hub({"echo": PARKED_ECHO}) as running:
        for path in ("/api/v1/servers", "/api/v1/servers/echo", "/api/v1/settings", "/api/v1/tokens"):
            assert (await running.client.get(path)).status_code == 200
        await running.client.post("/api/v1/servers/echo/reload")
        entries = await audit_entries(running)

    assert [entry["action"] for entry in entries] == ["servers.reload"]


async def test_the_audit_log_exports_as_json_lines_and_csv_oldest_first(run_hub: RunHub) -> None:
    async with run_hub({"echo": PARKED_ECHO}) as running:
        for verb in ("restart", "disable", "enable"):
            await running.client.post(f"/api/v1/servers/echo/{verb}")
        newest_first = await all_entries(running, 3)
        jsonl = await running.client.get("/api/v1/audit/export", params={"format": "jsonl"})
        as_csv = await running.client.get("/api/v1/audit/export", params={"format": "csv"})
        filtered = await running.client.get(
            "/api/v1/audit/export", params={"format": "jsonl", "action": "servers.disable"}
        )
        wrong = await running.client.get("/api/v1/audit/export", params={"format": "xml"})

    assert jsonl.headers["content-type"] == "application/x-ndjson"
    assert jsonl.headers["content-disposition"] == 'attachment; filename="corral-audit.jsonl"'
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert lines == list(reversed(newest_first))
    assert as_csv.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [row["action"] for row in rows] == ["servers.restart", "servers.disable", "servers.enable"]
    assert [int(row["id"]) for row in rows] == [line["id"] for line in lines]
    assert json.loads(rows[0]["detail"]) == lines[0]["detail"]
    assert rows[0]["actor"] == "admin" and rows[0]["target"] == "servers/echo"
    assert [json.loads(line)["action"] for line in filtered.text.splitlines()] == ["servers.disable"]
    assert wrong.status_code == 422


async def test_a_caller_reads_back_its_own_tool_calls_with_their_arguments(run_hub: RunHub) -> None:
    async with run_hub({"echo": server_entry("echo")}) as running, running.anonymous() as anon:
        await add_user(running.client, "otto", "operator")
        otto = bearer(await login(anon, "otto"))
        long_text = "x" * 10_000
        for text in ("first", "second", long_text):
            called = await anon.post(
                "/api/v1/tools/echo__echo/call", headers=otto, json={"arguments": {"text": text}}
            )
            assert called.status_code == 200, called.text
        await running.client.post("/api/v1/tools/echo__echo/call", json={"arguments": {"text": "admin's"}})
        await audit_entries(running, 4, action="tool.call")

        mine = await anon.get("/api/v1/audit/mine", headers=otto, params={"action": "tool.call"})
        not_others = await anon.get("/api/v1/audit/mine", headers=otto, params={"actor": "admin"})
        everyone = await anon.get("/api/v1/audit", headers=otto)

    assert mine.status_code == 200 and everyone.status_code == 403
    calls = mine.json()["items"]
    assert [(entry["actor"], entry["target"]) for entry in calls] == [("otto", "echo/echo")] * 3
    kept = [entry["detail"].get("arguments") for entry in calls[1:]]
    assert kept == [{"text": "second"}, {"text": "first"}]
    assert calls[0]["detail"] == {"arguments_bytes": len('{"text":""}') + len(long_text)}
    assert {entry["actor"] for entry in not_others.json()["items"]} == {"otto"}, "actor is always the caller"


async def test_audited_arguments_are_masked_like_all_audit_data_and_can_be_turned_off(
    run_hub: RunHub, tmp_path: Path
) -> None:
    leaky = {"text": "login with password=hunter2hunter2"}
    async with run_hub({"echo": server_entry("echo")}) as running:
        await running.client.post("/api/v1/tools/echo__echo/call", json={"arguments": leaky})
        (kept,) = await audit_entries(running, action="tool.call")
    quiet = {"auth": {"audit_tool_arguments": False}, "data_dir": tmp_path / "quiet"}
    async with run_hub({"echo": server_entry("echo")}, **quiet) as running:
        await running.client.post("/api/v1/tools/echo__echo/call", json={"arguments": {"text": "hi"}})
        (off,) = await audit_entries(running, action="tool.call")

    assert "hunter2" not in json.dumps(kept)
    assert kept["detail"]["arguments"]["text"].startswith("login with password=")
    assert off["detail"] == {}
