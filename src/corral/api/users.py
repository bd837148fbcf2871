"""REST routes for users: list, add, change the role, change a password, remove.

Only an admin manages users; anyone may change their own password (giving the
current one). Passwords are never returned, logged or audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from corral.api.audit_trail import describe
from corral.api.authz import AccessDep, Viewer, needs
from corral.api.pages import DEFAULT_LIMIT, Cursor, Limit, Page, by_text, next_page
from corral.api.problems import documented
from corral.auth.models import User
from corral.auth.principal import Role
from corral.strict import StrictModel

router = APIRouter(prefix="/api/v1/users", tags=["users"])
USERS = by_text("users")

Password = Annotated[str, Field(min_length=8, max_length=1024, description="8 to 1024 characters.")]


class UserOut(BaseModel):
    name: str
    role: Role
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls(name=user.name, role=user.role, created_at=user.created_at, updated_at=user.updated_at)


class UserList(Page[UserOut]):
    """Users sorted by name."""


class UserIn(StrictModel):
    name: str = Field(description="1 to 64 letters, digits, '_', '.', '@' or '-'.")
    password: Password
    role: Role = Field(Role.VIEWER, description="admin, operator or viewer.")


class UserChange(StrictModel):
    role: Role


class PasswordChange(StrictModel):
    password: Password
    current_password: str | None = Field(
        None, description="Required when changing your own password; an admin changing another's omits it."
    )


@router.get("", summary="Every user with its role, sorted by name", dependencies=needs(Role.ADMIN))
async def list_users(
    access: AccessDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    role: Annotated[Role | None, Query(description="Only users with this role.")] = None,
) -> UserList:
    users = await access.accounts.users(role=role, after=USERS.key(cursor), limit=limit + 1)
    page, next_cursor = next_page(users, limit, USERS, lambda user: user.name)
    return UserList(items=[UserOut.of(user) for user in page], next_cursor=next_cursor)


@router.post(
    "", status_code=201, summary="Add a user", dependencies=needs(Role.ADMIN), responses=documented(409)
)
async def add_user(body: UserIn, access: AccessDep, request: Request) -> UserOut:
    describe(request, target=f"users/{body.name}", role=body.role.value)
    return UserOut.of(await access.accounts.add_user(body.name, body.password, body.role))


@router.patch("/{name}", summary="Change a user's role", dependencies=needs(Role.ADMIN))
async def change_user(name: str, body: UserChange, access: AccessDep, request: Request) -> UserOut:
    describe(request, role=body.role.value)
    return UserOut.of(await access.accounts.set_role(name, body.role))


@router.put(
    "/{name}/password",
    status_code=204,
    summary="Change a password (your own, or anyone's as an admin); it ends the user's login sessions",
)
async def change_password(name: str, body: PasswordChange, caller: Viewer, access: AccessDep) -> None:
    await access.accounts.change_password(caller, name, body.password, body.current_password)


@router.delete(
    "/{name}", status_code=204, summary="Remove a user and its API tokens", dependencies=needs(Role.ADMIN)
)
async def remove_user(name: str, access: AccessDep) -> None:
    await access.accounts.remove_user(name)
