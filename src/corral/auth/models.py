"""Users, API tokens and login sessions as values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from corral.auth.principal import Principal, Role

TokenState = Literal["active", "expired", "revoked"]


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    created_at: datetime
    updated_at: datetime
    # Bumped when the password changes: login tokens carry the version they were issued under.
    session_version: int = 0


@dataclass(frozen=True)
class ApiToken:
    """An API token as listed: never the secret itself, which is shown once and stored as a hash."""

    id: str
    name: str
    role: Role
    owner: str | None  # the user it belongs to; None when made with the bootstrap admin token
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    def state(self, now: datetime) -> TokenState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"


@dataclass(frozen=True)
class IssuedToken:
    """A new API token: ``secret`` is what the caller sends and is never seen again."""

    secret: str
    token: ApiToken


@dataclass(frozen=True)
class LoginSession:
    """A signed, short-lived login token for one user."""

    token: str
    user: str
    role: Role
    expires_at: datetime


@dataclass(frozen=True)
class Credential:
    """What a valid bearer token stands for, and until when."""

    principal: Principal
    expires_at: datetime | None
