"""The hub's authenticator: the bootstrap admin token, API tokens and login tokens.

What a token stands for is cached for a moment, keyed by the token's digest, so a
busy client does not cost a store query per request. A change to users or tokens
made through this hub empties the cache at once; other replicas of a scaled-out
hub see it within ``CACHE_TTL_S``. Expiry is checked on every request.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.auth.accounts import API_TOKEN_PREFIX, Accounts, token_digest
from corral.auth.admin_token import tokens_match
from corral.auth.models import Credential
from corral.auth.principal import BOOTSTRAP_TOKEN_ID, Principal, Role
from corral.auth.sessions import looks_like_jwt
from corral.clock import Clock

CACHE_TTL_S = 2.0
CACHE_SIZE = 10_000


@dataclass(frozen=True)
class _Cached:
    credential: Credential
    generation: int
    at: float


class HubAuthenticator:
    def __init__(self, accounts: Accounts, clock: Clock, admin_token: str | None) -> None:
        self._accounts = accounts
        self._clock = clock
        self._admin_token = admin_token
        self._cache: dict[str, _Cached] = {}

    async def authenticate(self, token: str) -> Principal | None:
        """Raises: TokenExpired, TokenRevoked for a token that was valid once."""
        if self._admin_token is not None and tokens_match(token, self._admin_token):
            return Principal("admin", Role.ADMIN, token_id=BOOTSTRAP_TOKEN_ID)
        key = token_digest(token)
        cached = self._cache.get(key)
        fresh = (
            cached is not None
            and cached.generation == self._accounts.generation
            and self._clock.monotonic() - cached.at < CACHE_TTL_S
            and (cached.credential.expires_at is None or cached.credential.expires_at > self._clock.now())
        )
        if cached is not None and fresh:
            return cached.credential.principal
        self._cache.pop(key, None)
        generation = self._accounts.generation
        credential = await self._look_up(token)
        if credential is None:
            return None
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = _Cached(credential, generation, self._clock.monotonic())
        return credential.principal

    async def _look_up(self, token: str) -> Credential | None:
        if token.startswith(API_TOKEN_PREFIX):
            return await self._accounts.api_token_credential(token)
        if looks_like_jwt(token):
            return await self._accounts.login_credential(token)
        return None
