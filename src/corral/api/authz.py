"""Authorization of REST routes: the least role each route needs, as a FastAPI dependency.

The auth middleware has already said who is calling (``scope["state"]["principal"]``);
a route declares the least role it needs with ``dependencies=needs(Role.OPERATOR)``
or takes the caller with ``caller: Viewer`` / ``Operator`` / ``Admin``. Rules about
whose things a caller may touch (its own tokens, its own password) live in
``corral.auth.accounts``. ``Access`` carries what the auth and audit routes need.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from corral.audit.log import AuditLog
from corral.audit.store import AuditStore
from corral.auth.accounts import Accounts
from corral.auth.principal import Principal, Role
from corral.clock import Clock
from corral.config.settings import AuthSettings
from corral.errors import Forbidden, Unauthorized

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class Access:
    accounts: Accounts
    audit: AuditLog
    audit_store: AuditStore
    clock: Clock
    settings: AuthSettings


def access(request: Request) -> Access:
    found: Access = request.app.state.access
    return found


def caller(request: Request) -> Principal:
    """Raises: Unauthorized when no credential was checked for this request."""
    found: Principal | None = request.scope.get("state", {}).get("principal")
    if found is None:
        raise Unauthorized("this route needs a bearer token")
    return found


def _requirement(minimum: Role) -> Callable[[Request], Principal]:
    def require(request: Request) -> Principal:
        principal = caller(request)
        if not principal.may(minimum):
            raise Forbidden(
                f"{request.method} {request.url.path} needs the {minimum} role; "
                f"{principal.name} has the {principal.role} role"
            )
        return principal

    require.__name__ = f"require_{minimum}"
    return require


# One dependency per role: FastAPI then resolves it once per request, however often it is named.
_REQUIREMENTS = {role: _requirement(role) for role in Role}


def require(minimum: Role) -> Callable[[Request], Principal]:
    """The dependency that lets a caller with at least ``minimum`` through. Raises: Forbidden."""
    return _REQUIREMENTS[minimum]


def needs(minimum: Role) -> list[Any]:
    """For a route decorator's ``dependencies=``."""
    return [Depends(require(minimum))]


def _by_method(request: Request) -> Principal:
    return require(Role.VIEWER if request.method in SAFE_METHODS else Role.OPERATOR)(request)


def by_method() -> list[Any]:
    """For a router whose routes declare no role: reading needs a viewer, anything else an operator."""
    return [Depends(_by_method)]


Viewer = Annotated[Principal, Depends(require(Role.VIEWER))]
Operator = Annotated[Principal, Depends(require(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(require(Role.ADMIN))]
AccessDep = Annotated[Access, Depends(access)]
