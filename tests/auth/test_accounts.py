"""Users, passwords, API tokens and login tokens on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import text

from corral.auth.principal import Principal, Role
from corral.errors import (
    Conflict,
    Forbidden,
    InvalidCredentials,
    InvalidInput,
    NotFound,
    TokenExpired,
    TokenRevoked,
)
from tests.auth.conftest import LOGIN_LIFETIME_S, AuthWorld

pytestmark = pytest.mark.anyio

ADMIN = Principal("admin", Role.ADMIN, token_id="bootstrap")


def as_user(name: str, role: Role) -> Principal:
    return Principal(name, role, user=name)


async def rows(world: AuthWorld, query: str) -> list[tuple[object, ...]]:
    async with world.database.engine.connect() as connection:
        return [tuple(row) for row in await connection.execute(text(query))]


async def test_a_password_is_stored_as_an_argon2id_hash_never_in_clear(world: AuthWorld) -> None:
    await world.accounts.add_user("alice", "correct horse battery", Role.OPERATOR)

    stored = await rows(world, "SELECT * FROM users")

    ((name, role, password_hash, *_),) = stored
    assert (name, role) == ("alice", "operator")
    assert str(password_hash).startswith("$argon2id$")
    assert not any("correct horse" in str(value) for row in stored for value in row)


async def test_a_login_token_stands_for_its_user_until_it_expires(world: AuthWorld) -> None:
    await world.accounts.add_user("alice", "correct horse battery", Role.OPERATOR)

    session = await world.accounts.login("alice", "correct horse battery")
    principal = await world.authenticator.authenticate(session.token)
    world.clock.advance(LOGIN_LIFETIME_S + 1)

    assert principal == Principal("alice", Role.OPERATOR, token_id=principal.token_id, user="alice")
    assert principal.token_id is not None and principal.token_id.startswith("login:")
    with pytest.raises(TokenExpired, match="log in again"):
        await world.authenticator.authenticate(session.token)


async def test_a_wrong_password_and_an_unknown_user_are_refused_alike(world: AuthWorld) -> None:
    await world.accounts.add_user("alice", "correct horse battery", Role.VIEWER)

    with pytest.raises(InvalidCredentials) as wrong_password:
        await world.accounts.login("alice", "incorrect horse")
    with pytest.raises(InvalidCredentials) as unknown_user:
        await world.accounts.login("mallory", "correct horse battery")

    assert wrong_password.value.message == unknown_user.value.message == "wrong user name or password"


async def test_a_token_this_hub_did_not_sign_or_that_was_altered_stands_for_nobody(world: AuthWorld) -> None:
    import jwt

    await world.accounts.add_user("alice", "correct horse battery", Role.ADMIN)
    genuine = (await world.accounts.login("alice", "correct horse battery")).token
    claims = jwt.decode(genuine, options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin"}, "another key of at least 32 bytes!!", algorithm="HS256")
    header, payload, signature = genuine.split(".")
    tampered = ".".join([header, payload, signature[:-4] + ("AAAA" if signature[-4:] != "AAAA" else "BBBB")])

    assert await world.authenticator.authenticate(forged) is None
    assert await world.authenticator.authenticate(tampered) is None
    assert await world.authenticator.authenticate("not a token at all") is None


async def test_changing_a_password_ends_the_login_sessions_issued_before(world: AuthWorld) -> None:
    await world.accounts.add_user("alice", "correct horse battery", Role.VIEWER)
    before = await world.accounts.login("alice", "correct horse battery")
    await world.authenticator.authenticate(before.token)

    await world.accounts.change_password(
        as_user("alice", Role.VIEWER), "alice", "staple battery horse", "correct horse battery"
    )
    after = await world.accounts.login("alice", "staple battery horse")

    with pytest.raises(TokenRevoked, match="password changed"):
        await world.authenticator.authenticate(before.token)
    assert (await world.authenticator.authenticate(after.token)) is not None
    with pytest.raises(InvalidCredentials):
        await world.accounts.login("alice", "correct horse battery")


async def test_your_own_password_needs_the_current_one_and_anothers_needs_an_admin(world: AuthWorld) -> None:
    await world.accounts.add_user("alice", "correct horse battery", Role.OPERATOR)
    await world.accounts.add_user("bob", "bob's long password", Role.VIEWER)
    alice = as_user("alice", Role.OPERATOR)

    with pytest.raises(InvalidInput, match="current_password: required"):
        await world.accounts.change_password(alice, "alice", "a new password", None)
    with pytest.raises(InvalidInput, match="current_password: does not match"):
        await world.accounts.change_password(alice, "alice", "a new password", "a wrong guess")
    with pytest.raises(Forbidden, match="only an admin"):
        await world.accounts.change_password(alice, "bob", "a new password", None)
    await world.accounts.change_password(ADMIN, "bob", "set by the admin", None)

    assert (await world.accounts.login("bob", "set by the admin")).user == "bob"


async def test_names_and_passwords_are_checked_and_a_name_is_taken_once(world: AuthWorld) -> None:
    await world.accounts.add_user("alice", "correct horse battery", Role.VIEWER)

    with pytest.raises(Conflict, match="already exists"):
        await world.accounts.add_user("alice", "another password", Role.ADMIN)
    with pytest.raises(InvalidInput, match="user name 'bad name'"):
        await world.accounts.add_user("bad name", "correct horse battery", Role.VIEWER)
    with pytest.raises(InvalidInput, match="password: use 8"):
        await world.accounts.add_user("carol", "short", Role.VIEWER)
    with pytest.raises(NotFound):
        await world.accounts.set_role("nobody", Role.ADMIN)


async def test_an_api_token_is_stored_as_its_sha256_digest_only(world: AuthWorld) -> None:
    await world.accounts.add_user("alice", "correct horse battery", Role.OPERATOR)

    issued = await world.accounts.create_token(as_user("alice", Role.OPERATOR), "ci", Role.VIEWER, None)
    stored = await rows(world, "SELECT * FROM api_tokens")

    assert issued.secret.startswith("corral_at_")
    assert not any(issued.secret in str(value) for row in stored for value in row)
    assert [row[4] for row in stored] == [hashlib.sha256(issued.secret.encode()).hexdigest()]
    principal = await world.authenticator.authenticate(issued.secret)
    assert principal == Principal("alice", Role.VIEWER, token_id=issued.token.id, user="alice")


async def test_a_token_never_outranks_the_user_who_made_it(world: AuthWorld) -> None:
    await world.accounts.add_user("alice", "correct horse battery", Role.OPERATOR)
    alice = as_user("alice", Role.OPERATOR)

    with pytest.raises(Forbidden, match="a operator cannot make a token with the role admin"):
        await world.accounts.create_token(alice, "too strong", Role.ADMIN, None)
    issued = await world.accounts.create_token(alice, "deploys", Role.OPERATOR, None)
    await world.accounts.set_role("alice", Role.VIEWER)
    principal = await world.authenticator.authenticate(issued.secret)

    assert principal is not None and principal.role is Role.VIEWER


async def test_a_revoked_token_is_refused_at_once_even_when_its_answer_was_cached(world: AuthWorld) -> None:
    issued = await world.accounts.create_token(ADMIN, "script", Role.OPERATOR, None)
    assert await world.authenticator.authenticate(issued.secret) is not None

    revoked = await world.accounts.revoke_token(ADMIN, issued.token.id)

    assert revoked.state(world.clock.now()) == "revoked"
    with pytest.raises(TokenRevoked, match=f"token {issued.token.id} was revoked"):
        await world.authenticator.authenticate(issued.secret)


async def test_an_expired_token_is_refused_even_when_its_answer_was_cached(world: AuthWorld) -> None:
    issued = await world.accounts.create_token(ADMIN, "short-lived", Role.VIEWER, expires_in_s=5)
    assert await world.authenticator.authenticate(issued.secret) is not None

    world.clock.advance(5)

    with pytest.raises(TokenExpired, match=f"token {issued.token.id} expired at"):
        await world.authenticator.authenticate(issued.secret)
    assert issued.token.state(world.clock.now()) == "expired"


@pytest.mark.parametrize("expires_in_s", [0.0, -1.0, 1e300, float("inf"), float("nan")])
async def test_a_token_lifetime_that_is_not_a_date_to_come_is_refused(
    world: AuthWorld, expires_in_s: float
) -> None:
    with pytest.raises(InvalidInput, match="expires_in: must be a positive number of seconds"):
        await world.accounts.create_token(ADMIN, "forever", Role.VIEWER, expires_in_s)

    assert await world.accounts.tokens(ADMIN) == []


async def test_a_user_sees_and_revokes_its_own_tokens_and_an_admin_everyones(world: AuthWorld) -> None:
    for name in ("alice", "bob"):
        await world.accounts.add_user(name, "correct horse battery", Role.OPERATOR)
    alice, bob = as_user("alice", Role.OPERATOR), as_user("bob", Role.OPERATOR)
    alices = await world.accounts.create_token(alice, "a", Role.VIEWER, None)
    bobs = await world.accounts.create_token(bob, "b", Role.VIEWER, None)
    admins = await world.accounts.create_token(ADMIN, "c", Role.ADMIN, None)

    seen_by_alice = [token.id for token in await world.accounts.tokens(alice)]
    seen_by_admin = {token.id for token in await world.accounts.tokens(ADMIN)}

    assert seen_by_alice == [alices.token.id]
    assert seen_by_admin == {alices.token.id, bobs.token.id, admins.token.id}
    assert admins.token.owner is None
    with pytest.raises(Forbidden, match="only an admin revokes another user's token"):
        await world.accounts.revoke_token(alice, bobs.token.id)
    with pytest.raises(NotFound):
        await world.accounts.revoke_token(alice, "tok_nope")
    assert (await world.accounts.revoke_token(alice, alices.token.id)).revoked_at is not None
    assert (await world.accounts.revoke_token(ADMIN, bobs.token.id)).revoked_at is not None


async def test_removing_a_user_removes_its_tokens_and_ends_its_logins(world: AuthWorld) -> None:
    await world.accounts.add_user("alice", "correct horse battery", Role.OPERATOR)
    issued = await world.accounts.create_token(as_user("alice", Role.OPERATOR), "a", Role.VIEWER, None)
    session = await world.accounts.login("alice", "correct horse battery")
    await world.authenticator.authenticate(issued.secret)

    await world.accounts.remove_user("alice")

    assert await world.authenticator.authenticate(issued.secret) is None
    assert await world.authenticator.authenticate(session.token) is None
    assert await rows(world, "SELECT id FROM api_tokens") == []
    with pytest.raises(NotFound):
        await world.accounts.remove_user("alice")


async def test_the_bootstrap_admin_token_is_an_admin(world: AuthWorld) -> None:
    principal = await world.authenticator.authenticate("corral_boot")

    assert principal == Principal("admin", Role.ADMIN, token_id="bootstrap")
