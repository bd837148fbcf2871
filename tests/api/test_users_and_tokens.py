"""Users, logins and API tokens through the REST API of a real hub."""

from __future__ import annotations

import hashlib
import sqlite3
import stat
from typing import Any

import pytest

from tests.api.authz_support import PASSWORD, add_user, bearer, login, token_for, wait_refused
from tests.rig import RunHub, RunningHub

pytestmark = pytest.mark.anyio


def stored(running: RunningHub, query: str) -> list[tuple[Any, ...]]:
    """Rows straight from the hub's SQLite file, as someone who copied the store would see them."""
    with sqlite3.connect(running.data_dir / "corral.db") as connection:
        return connection.execute(query).fetchall()


async def test_an_admin_adds_lists_changes_and_removes_users(run_hub: RunHub) -> None:
    async with run_hub() as running:
        admin = running.client
        added = await admin.post(
            "/api/v1/users", json={"name": "alice", "password": PASSWORD, "role": "operator"}
        )
        again = await admin.post("/api/v1/users", json={"name": "alice", "password": PASSWORD})
        bad_role = await admin.post(
            "/api/v1/users", json={"name": "bob", "password": PASSWORD, "role": "root"}
        )
        short = await admin.post("/api/v1/users", json={"name": "bob", "password": "short"})
        listed = (await admin.get("/api/v1/users")).json()
        changed = await admin.patch("/api/v1/users/alice", json={"role": "viewer"})
        removed = await admin.delete("/api/v1/users/alice")
        removed_again = await admin.delete("/api/v1/users/alice")
        after = (await admin.get("/api/v1/users")).json()

    assert added.status_code == 201
    assert added.json()["name"] == "alice" and added.json()["role"] == "operator"
    assert (again.status_code, again.json()["code"]) == (409, "conflict")
    assert (bad_role.status_code, bad_role.json()["code"]) == (422, "invalid_request")
    assert short.json()["detail"].startswith("body.password: String should have at least 8 characters")
    assert [(user["name"], user["role"]) for user in listed["items"]] == [("alice", "operator")]
    assert "password" not in str(listed)
    assert changed.json()["role"] == "viewer"
    assert removed.status_code == 204
    assert (removed_again.status_code, removed_again.json()["code"]) == (404, "not_found")
    assert after == {"items": [], "next_cursor": None}


async def test_passwords_and_tokens_are_never_stored_in_clear(run_hub: RunHub) -> None:
    async with run_hub() as running:
        await add_user(running.client, "alice", "admin")
        issued = await token_for(running.client, role="operator")
        users = stored(running, "SELECT name, password_hash FROM users")
        tokens = stored(running, "SELECT id, token_hash FROM api_tokens")
        everything = stored(running, "SELECT * FROM users") + stored(running, "SELECT * FROM api_tokens")

    assert users[0][0] == "alice"
    assert users[0][1].startswith("$argon2id$")
    assert tokens == [(issued["id"], hashlib.sha256(issued["token"].encode()).hexdigest())]
    assert not any(
        PASSWORD in str(value) or issued["token"] in str(value) for row in everything for value in row
    )


async def test_a_user_logs_in_and_the_login_token_says_who_it_is(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anon:
        await add_user(running.client, "alice", "operator")
        response = await anon.post("/api/v1/auth/login", json={"username": "alice", "password": PASSWORD})
        token = response.json()["token"]
        me = (await anon.get("/api/v1/auth/whoami", headers=bearer(token))).json()
        wrong = await anon.post("/api/v1/auth/login", json={"username": "alice", "password": "not it at all"})
        nobody = await anon.post("/api/v1/auth/login", json={"username": "nobody", "password": PASSWORD})
        admin_me = (await running.client.get("/api/v1/auth/whoami")).json()

    assert response.status_code == 200
    assert (response.json()["token_type"], response.json()["user"], response.json()["role"]) == (
        "bearer", "alice", "operator"
    )  # fmt: skip
    assert me["name"] == me["user"] == "alice"
    assert me["role"] == "operator"
    assert me["token_id"].startswith("login:")
    for refused in (wrong, nobody):
        assert refused.status_code == 401
        assert refused.json()["code"] == "invalid_credentials"
        assert refused.json()["detail"] == "wrong user name or password"
    assert admin_me == {"name": "admin", "role": "admin", "user": None, "token_id": "bootstrap"}


async def test_a_login_token_expires_after_its_configured_lifetime(run_hub: RunHub) -> None:
    async with run_hub(auth={"login_ttl_s": 1.0}) as running, running.anonymous() as anon:
        await add_user(running.client, "alice", "viewer")
        token = await login(anon, "alice")
        fresh = await anon.get("/api/v1/servers", headers=bearer(token))
        expired = await wait_refused(running, token)

    assert fresh.status_code == 200
    assert expired.json()["code"] == "token_expired"
    assert "log in again" in expired.json()["detail"]


async def test_the_signing_key_is_private_and_kept_so_logins_survive_a_restart(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anon:
        await add_user(running.client, "alice", "viewer")
        token = await login(anon, "alice")
        key_file = running.data_dir / "jwt.key"
        mode = stat.S_IMODE(key_file.stat().st_mode)
    async with run_hub() as running, running.anonymous() as anon:
        after_restart = await anon.get("/api/v1/auth/whoami", headers=bearer(token))

    assert mode == 0o600
    assert after_restart.status_code == 200


async def test_a_configured_signing_key_is_used_instead_of_a_generated_one(run_hub: RunHub) -> None:
    async with run_hub(auth={"signing_key": "s" * 40}) as running, running.anonymous() as anon:
        await add_user(running.client, "alice", "viewer")
        token = await login(anon, "alice")
        accepted = await anon.get("/api/v1/auth/whoami", headers=bearer(token))
        generated = (running.data_dir / "jwt.key").exists()

    assert accepted.status_code == 200
    assert not generated


async def test_changing_your_password_needs_the_current_one_and_ends_your_logins(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anon:
        await add_user(running.client, "alice", "viewer")
        await add_user(running.client, "bob", "viewer")
        session = await login(anon, "alice")
        as_alice = bearer(session)
        without_current = await anon.put(
            "/api/v1/users/alice/password", headers=as_alice, json={"password": "a brand new password"}
        )
        others = await anon.put(
            "/api/v1/users/bob/password", headers=as_alice, json={"password": "a brand new password"}
        )
        changed = await anon.put(
            "/api/v1/users/alice/password",
            headers=as_alice,
            json={"password": "a brand new password", "current_password": PASSWORD},
        )
        old_session = await anon.get("/api/v1/auth/whoami", headers=as_alice)
        new_session = await login(anon, "alice", "a brand new password")
        by_admin = await running.client.put(
            "/api/v1/users/bob/password", json={"password": "set by the admin"}
        )
        bob = await login(anon, "bob", "set by the admin")

    assert (without_current.status_code, without_current.json()["code"]) == (422, "invalid_input")
    assert (others.status_code, others.json()["code"]) == (403, "forbidden")
    assert changed.status_code == 204
    assert (old_session.status_code, old_session.json()["code"]) == (401, "token_revoked")
    assert new_session and bob
    assert by_admin.status_code == 204


async def test_a_token_is_shown_once_and_listed_without_it(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anon:
        created = await running.client.post(
            "/api/v1/tokens", json={"name": "ci", "role": "operator", "expires_in": 3600}
        )
        listed = (await running.client.get("/api/v1/tokens")).json()
        works = await anon.get("/api/v1/auth/whoami", headers=bearer(created.json()["token"]))

    body = created.json()
    assert created.status_code == 201
    assert body["token"].startswith("corral_at_")
    assert (body["name"], body["role"], body["owner"], body["state"]) == ("ci", "operator", None, "active")
    assert body["expires_at"] is not None
    (item,) = listed["items"]
    assert "token" not in item
    assert body["token"] not in str(listed)
    assert item["id"] == body["id"]
    assert works.json() == {"name": "admin", "role": "operator", "user": None, "token_id": body["id"]}


async def test_a_token_with_expires_in_stops_working_when_it_expires(run_hub: RunHub) -> None:
    async with run_hub() as running:
        issued = await token_for(running.client, role="viewer", expires_in=1)
        async with running.anonymous() as anon:
            before = await anon.get("/api/v1/servers", headers=bearer(issued["token"]))
        refused = await wait_refused(running, issued["token"])
        (listed,) = (await running.client.get("/api/v1/tokens")).json()["items"]

    assert before.status_code == 200
    assert refused.json()["code"] == "token_expired"
    assert listed["state"] == "expired"


async def test_a_revoked_token_is_refused_on_rest_and_mcp_at_once(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anon:
        issued = await token_for(running.client, role="operator")
        before = await anon.get("/api/v1/servers", headers=bearer(issued["token"]))
        revoked = await running.client.delete(f"/api/v1/tokens/{issued['id']}")
        rest = await anon.get("/api/v1/servers", headers=bearer(issued["token"]))
        mcp = await anon.post(
            "/mcp",
            headers={**bearer(issued["token"]), "Accept": "application/json, text/event-stream"},
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        )
        (listed,) = (await running.client.get("/api/v1/tokens")).json()["items"]

    assert before.status_code == 200
    assert revoked.status_code == 204
    for response in (rest, mcp):
        assert (response.status_code, response.json()["code"]) == (401, "token_revoked")
    assert listed["state"] == "revoked"


async def test_users_make_and_revoke_only_their_own_tokens_of_at_most_their_role(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anon:
        await add_user(running.client, "vera", "viewer")
        await add_user(running.client, "otto", "operator")
        anon.headers.update(bearer(await login(anon, "vera")))
        stronger = await anon.post("/api/v1/tokens", json={"name": "x", "role": "operator"})
        own = await token_for(anon, role="viewer")
        others = await token_for(running.client, role="viewer")
        listed = (await anon.get("/api/v1/tokens")).json()["items"]
        revoke_others = await anon.delete(f"/api/v1/tokens/{others['id']}")
        revoke_own = await anon.delete(f"/api/v1/tokens/{own['id']}")
        unknown = await anon.delete("/api/v1/tokens/tok_unknown")
        every = (await running.client.get("/api/v1/tokens")).json()["items"]

    assert (stronger.status_code, stronger.json()["code"]) == (403, "forbidden")
    assert stronger.json()["detail"] == "a viewer cannot make a token with the role operator"
    assert [item["id"] for item in listed] == [own["id"]]
    assert listed[0]["owner"] == "vera"
    assert (revoke_others.status_code, revoke_own.status_code, unknown.status_code) == (403, 204, 404)
    assert {item["id"] for item in every} == {own["id"], others["id"]}


async def test_removing_a_user_ends_its_tokens(run_hub: RunHub) -> None:
    async with run_hub() as running, running.anonymous() as anon:
        await add_user(running.client, "otto", "operator")
        anon.headers.update(bearer(await login(anon, "otto")))
        issued = await token_for(anon, role="operator")
        await running.client.delete("/api/v1/users/otto")
        after = await anon.get("/api/v1/servers", headers=bearer(issued["token"]))

    assert (after.status_code, after.json()["code"]) == (401, "unauthorized")
