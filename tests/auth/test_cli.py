"""``corral users …`` and ``corral token …`` against a real ``corral serve`` process."""

from __future__ import annotations

import io
import json
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from corral.cli.main import main
from corral.cli.tokens import parse_duration
from corral.errors import InvalidInput
from tests.support import HubProcess

PASSWORD = "alice's long password"
NEW_PASSWORD = "alice's newer password"


@dataclass(frozen=True)
class Ran:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def corral(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Ran]:
    """``corral(hub, "users", "list", input=...)``: the console script's entry point in process,
    pointed at ``hub``, with ``input`` on stdin; exit code, stdout and stderr (unwrapped) out."""
    monkeypatch.chdir(tmp_path)

    def run(hub: HubProcess, *args: str, input: str = "") -> Ran:
        monkeypatch.setattr(sys, "argv", ["corral", *args, "--hub", hub.url, "--data-dir", str(hub.data_dir)])
        monkeypatch.setattr(sys, "stdin", io.StringIO(input))
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        code = exited.value.code
        return Ran(code if isinstance(code, int) else 0 if code is None else 1, out, " ".join(err.split()))

    return run


def login(hub: HubProcess, password: str) -> str:
    response = hub.post("/api/v1/auth/login", json={"username": "alice", "password": password}, headers={})
    assert response.status_code == 200, response.text
    token: str = response.json()["token"]
    return token


def test_users_are_added_listed_given_a_new_password_and_removed(
    start_hub: Callable[..., HubProcess], corral: Callable[..., Ran]
) -> None:
    hub = start_hub({"mcpServers": {}})

    added = corral(
        hub, "users", "add", "alice", "--role", "operator", "--password-stdin", input=PASSWORD + "\n"
    )
    listed = corral(hub, "users", "list")
    listed_json = corral(hub, "users", "list", "--json")
    session = login(hub, PASSWORD)
    own = corral(
        hub,
        "users",
        "passwd",
        "alice",
        "--password-stdin",
        "--token",
        session,
        input=f"{PASSWORD}\n{NEW_PASSWORD}\n",
    )
    refused_old = hub.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}, headers={})
    by_admin = corral(hub, "users", "passwd", "alice", "--password-stdin", input="set by the admin\n")
    demoted = corral(hub, "users", "role", "alice", "viewer")
    as_viewer = corral(hub, "users", "list", "--token", login(hub, "set by the admin"))
    with sqlite3.connect(hub.data_dir / "corral.db") as store:
        users = store.execute("SELECT * FROM users").fetchall()
    removed = corral(hub, "users", "remove", "alice")
    after = corral(hub, "users", "list", "--json")

    assert (added.exit_code, added.stdout) == (0, "added alice (operator)\n")
    assert "alice" in listed.stdout and "operator" in listed.stdout
    assert [(user["name"], user["role"]) for user in json.loads(listed_json.stdout)["items"]] == [
        ("alice", "operator")
    ]
    assert (own.exit_code, own.stdout) == (0, "password of alice changed\n"), own.stderr
    assert refused_old.status_code == 401
    assert by_admin.exit_code == 0
    assert demoted.stdout == "alice is now viewer\n"
    assert as_viewer.exit_code == 3
    assert "needs the admin role" in as_viewer.stderr
    assert str(users[0][2]).startswith("$argon2id$")
    assert not any(password in str(users) for password in (PASSWORD, NEW_PASSWORD, "set by the admin"))
    assert removed.stdout == "removed alice\n"
    assert json.loads(after.stdout) == {"items": []}


def test_a_token_is_printed_once_works_and_stops_working_when_revoked(
    start_hub: Callable[..., HubProcess], corral: Callable[..., Ran]
) -> None:
    hub = start_hub({"mcpServers": {}})

    created = corral(hub, "token", "create", "ci", "--role", "operator", "--expires-in", "12h")
    token = created.stdout.strip()
    listed = corral(hub, "token", "list", "--json")
    table = corral(hub, "token", "list")
    (item,) = json.loads(listed.stdout)["items"]
    works = corral(hub, "servers", "list", "--token", token)
    revoked = corral(hub, "token", "revoke", item["id"])
    refused = corral(hub, "servers", "list", "--token", token)
    after = corral(hub, "token", "list", "--json")
    with sqlite3.connect(hub.data_dir / "corral.db") as store:
        rows = store.execute("SELECT * FROM api_tokens").fetchall()

    assert created.exit_code == 0
    assert token.startswith("corral_at_") and "\n" not in token
    assert f"token {item['id']} (operator, expires" in created.stderr
    assert "shown once" in created.stderr
    assert token not in listed.stdout and token not in table.stdout
    assert (item["name"], item["role"], item["state"]) == ("ci", "operator", "active")
    assert item["id"] in table.stdout and "active" in table.stdout
    assert works.exit_code == 0
    assert revoked.stdout == f"revoked {item['id']}\n"
    assert refused.exit_code == 3
    assert f"token {item['id']} was revoked" in refused.stderr
    assert json.loads(after.stdout)["items"][0]["state"] == "revoked"
    assert not any(token in str(value) for row in rows for value in row)


def test_a_token_can_not_be_stronger_than_its_maker(
    start_hub: Callable[..., HubProcess], corral: Callable[..., Ran]
) -> None:
    hub = start_hub({"mcpServers": {}})
    corral(hub, "users", "add", "alice", "--role", "viewer", "--password-stdin", input=PASSWORD + "\n")
    session = login(hub, PASSWORD)

    stronger = corral(hub, "token", "create", "x", "--role", "admin", "--token", session)
    own = corral(hub, "token", "create", "mine", "--token", session, "--json")

    assert stronger.exit_code == 3
    assert "a viewer cannot make a token with the role admin" in stronger.stderr
    assert json.loads(own.stdout)["owner"] == "alice"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("45s", 45), ("30m", 1800), ("12h", 43200), ("90d", 7776000), ("2w", 1209600)],
)
def test_durations_read_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "-5m", "3y"])
def test_a_duration_that_is_not_one_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="--expires-in"):
        parse_duration(text)
