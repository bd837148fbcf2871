"""Users and API tokens: adding, changing, listing and revoking them, and what a credential stands for.

The rules about *whose* things a caller may touch live here (a user changes its own
password, lists and revokes its own tokens, and never makes a token stronger than
itself; only an admin touches others'), so every door to them enforces the same ones.
The REST routes add only each route's minimum role.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from corral.auth.models import ApiToken, Credential, IssuedToken, LoginSession, User
from corral.auth.passwords import hash_password, verify_password
from corral.auth.principal import Principal, Role
from corral.auth.sessions import SessionSigner
from corral.auth.store import AuthStore
from corral.clock import Clock
from corral.errors import Forbidden, InvalidCredentials, InvalidInput, NotFound, TokenExpired, TokenRevoked

API_TOKEN_PREFIX = "corral_at_"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MAX_TOKEN_LIFETIME_S = 100 * 365 * 86_400.0  # beyond this a token's expiry date cannot be written


def token_digest(secret: str) -> str:
    # API tokens are 256 random bits: a plain digest cannot be reversed, and checking one is cheap.
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_name(name: str, what: str) -> None:
    if not NAME.match(name):
        raise InvalidInput(
            f"{what} {name!r}: use 1 to 64 letters, digits, '_', '.', '@' or '-', "
            "starting with a letter or digit"
        )


def _check_password(password: str) -> None:
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"password: use {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters")


class Accounts:
    def __init__(self, store: AuthStore, signer: SessionSigner, clock: Clock) -> None:
        self._store = store
        self._signer = signer
        self._clock = clock
        # Bumped by every change that may end or weaken a credential, so caches can tell.
        self.generation = 0

    # -- users --------------------------------------------------------------------------------

    async def add_user(self, name: str, password: str, role: Role) -> User:
        """Raises: InvalidInput (name or password), Conflict (name taken)."""
        _check_name(name, "user name")
        _check_password(password)
        now = self._clock.now()
        user = User(name, role, now, now)
        await self._store.add_user(user, await hash_password(password))
        return user

    async def users(
        self, *, role: Role | None = None, after: str | None = None, limit: int | None = None
    ) -> list[User]:
        """By name: those (with ``role``) after ``after``, at most ``limit``."""
        return await self._store.users(role=role, after=after, limit=limit)

    async def user(self, name: str) -> User:
        """Raises: NotFound."""
        user = await self._store.user(name)
        if user is None:
            raise NotFound(f"no user named {name!r}")
        return user

    async def set_role(self, name: str, role: Role) -> User:
        """Raises: NotFound."""
        user = await self._store.update_user(name, self._clock.now(), role=role)
        self.generation += 1
        return user

    async def change_password(
        self, actor: Principal, name: str, password: str, current_password: str | None
    ) -> User:
        """A user changes its own password (giving the current one); an admin changes anyone's.

        Every login token of the user ends. Raises: Forbidden, InvalidInput, NotFound.
        """
        own = actor.user == name
        if not own and not actor.may(Role.ADMIN):
            raise Forbidden(f"only an admin changes another user's password (you are {actor.role})")
        _check_password(password)
        found = await self._store.password_hash(name)
        if found is None:
            raise NotFound(f"no user named {name!r}")
        if own:
            if current_password is None:
                raise InvalidInput("current_password: required to change your own password")
            if not await verify_password(found[1], current_password):
                raise InvalidInput("current_password: does not match")
        user = await self._store.update_user(
            name, self._clock.now(), password_hash=await hash_password(password)
        )
        self.generation += 1
        return user

    async def remove_user(self, name: str) -> None:
        """Remove a user with its tokens. Raises: NotFound."""
        await self._store.remove_user(name)
        self.generation += 1

    async def login(self, name: str, password: str) -> LoginSession:
        """Raises: InvalidCredentials, the same for an unknown user and a wrong password."""
        found = await self._store.password_hash(name)
        if not await verify_password(found[1] if found else None, password):
            raise InvalidCredentials("wrong user name or password")
        assert found is not None
        return self._signer.issue(found[0])

    # -- API tokens ---------------------------------------------------------------------------

    async def create_token(
        self, actor: Principal, name: str, role: Role, expires_in_s: float | None
    ) -> IssuedToken:
        """A token owned by the caller, with at most the caller's role. Raises: Forbidden, InvalidInput."""
        if not name.strip() or len(name) > 128:
            raise InvalidInput("name: use 1 to 128 characters")
        if not actor.may(role):
            raise Forbidden(f"a {actor.role} cannot make a token with the role {role}")
        if expires_in_s is not None and not 0 < expires_in_s <= MAX_TOKEN_LIFETIME_S:
            raise InvalidInput(
                f"expires_in: must be a positive number of seconds, at most {MAX_TOKEN_LIFETIME_S:.0f}"
            )
        now = self._clock.now()
        expires_at = now + timedelta(seconds=expires_in_s) if expires_in_s is not None else None
        token = ApiToken(
            id="tok_" + secrets.token_hex(6),
            name=name,
            role=role,
            owner=actor.user,
            created_at=now,
            expires_at=expires_at,
            revoked_at=None,
        )
        secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        await self._store.add_token(token, token_digest(secret))
        return IssuedToken(secret, token)

    async def tokens(
        self, actor: Principal, *, after: tuple[datetime, str] | None = None, limit: int | None = None
    ) -> list[ApiToken]:
        """An admin sees every token; anyone else their own. Oldest first, after the (created_at, id)
        ``after``, at most ``limit``."""
        if actor.may(Role.ADMIN):
            return await self._store.tokens(owner=None, every_owner=True, after=after, limit=limit)
        return await self._store.tokens(owner=actor.user, after=after, limit=limit)

    async def revoke_token(self, actor: Principal, token_id: str) -> ApiToken:
        """Raises: NotFound, Forbidden (another's token, unless the caller is an admin)."""
        token = await self._store.token(token_id)
        if token is None:
            raise NotFound(f"no token with id {token_id!r}")
        if token.owner != actor.user and not actor.may(Role.ADMIN):
            raise Forbidden(f"only an admin revokes another user's token (you are {actor.role})")
        revoked = await self._store.revoke_token(token_id, self._clock.now())
        self.generation += 1
        return revoked

    async def end_session(self, actor: Principal, session_name: str) -> ApiToken:
        """Revoke the token ``actor`` calls with, when it is a session (a token named ``session_name``).

        Raises: InvalidInput for any other credential: signing out never revokes a token made for a program.
        """
        token = await self._store.token(actor.token_id) if actor.token_id else None
        if token is None or token.name != session_name or token.owner != actor.user:
            raise InvalidInput(
                "only a session (POST /api/v1/auth/session) ends by signing out; "
                "revoke an API token with DELETE /api/v1/tokens/{id}"
            )
        revoked = await self._store.revoke_token(token.id, self._clock.now())
        self.generation += 1
        return revoked

    # -- what a credential stands for ---------------------------------------------------------

    async def api_token_credential(self, secret: str) -> Credential | None:
        """Raises: TokenRevoked, TokenExpired for a token that was valid once."""
        found = await self._store.token_by_hash(token_digest(secret))
        if found is None:
            return None
        token, owner_role = found
        state = token.state(self._clock.now())
        if state == "revoked":
            raise TokenRevoked(f"token {token.id} was revoked")
        if state == "expired":
            assert token.expires_at is not None
            raise TokenExpired(f"token {token.id} expired at {token.expires_at.isoformat()}")
        if token.owner is not None and owner_role is None:
            return None
        # A token never outranks its owner, even after the owner's role was lowered.
        role = token.role if owner_role is None or owner_role.covers(token.role) else owner_role
        principal = Principal(token.owner or "admin", role, token_id=token.id, user=token.owner)
        return Credential(principal, token.expires_at)

    async def login_credential(self, token: str) -> Credential | None:
        """Raises: TokenExpired, TokenRevoked (the password changed since the login)."""
        claims = self._signer.read(token)
        if claims is None:
            return None
        user = await self._store.user(claims.user)
        if user is None:
            return None
        if user.session_version != claims.session_version:
            raise TokenRevoked("the password changed since this login; log in again")
        principal = Principal(user.name, user.role, token_id=f"login:{claims.token_id}", user=user.name)
        return Credential(principal, claims.expires_at)
