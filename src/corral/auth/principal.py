"""Who is calling: a principal with a role, and how a bearer token becomes one."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from corral.auth.admin_token import tokens_match


class Role(enum.StrEnum):
    """What a caller may do; each role may do everything the roles below it may."""

    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def covers(self, minimum: Role) -> bool:
        """Whether this role may do what ``minimum`` may."""
        return self.rank >= minimum.rank


_RANKS = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


@dataclass(frozen=True)
class Principal:
    """``name`` is who the audit log names; ``user`` is the stored user it acts for (None for the
    bootstrap admin token and the local development mode)."""

    name: str
    role: Role
    token_id: str | None = None
    user: str | None = None

    def may(self, minimum: Role) -> bool:
        return self.role.covers(minimum)


# The loopback-only development mode (--no-auth) acts as this principal.
LOCAL_DEVELOPER = Principal("anonymous", Role.ADMIN)
BOOTSTRAP_TOKEN_ID = "bootstrap"


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal | None:
        """The principal a bearer token stands for, or None when it is not valid (now).

        May raise ``Unauthorized`` (or a subclass) to say why a once-valid token is refused.
        """
        ...


class AdminTokenAuthenticator:
    """Accepts the bootstrap admin token of ``<data-dir>/admin.token``."""

    def __init__(self, admin_token: str) -> None:
        self._admin_token = admin_token

    async def authenticate(self, token: str) -> Principal | None:
        if tokens_match(token, self._admin_token):
            return Principal("admin", Role.ADMIN, token_id=BOOTSTRAP_TOKEN_ID)
        return None
