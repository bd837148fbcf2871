"""Who is calling: a principal with a role, and how a bearer token becomes one."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol

from corral.auth.admin_token import tokens_match


class Role(enum.StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    token_id: str | None = None


# The loopback-only development mode (--no-auth) acts as this principal.
LOCAL_DEVELOPER = Principal("anonymous", Role.ADMIN)


class Authenticator(Protocol):
    async def authenticate(self, token: str) -> Principal | None:
        """The principal a bearer token stands for, or None when it is not valid (now)."""
        ...


class AdminTokenAuthenticator:
    """Accepts the bootstrap admin token of ``<data-dir>/admin.token``."""

    def __init__(self, admin_token: str) -> None:
        self._admin_token = admin_token

    async def authenticate(self, token: str) -> Principal | None:
        if tokens_match(token, self._admin_token):
            return Principal("admin", Role.ADMIN, token_id="bootstrap")
        return None
