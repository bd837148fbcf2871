"""REST routes for signing in: a user name and password for a short-lived login token; who am I."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from corral.api.audit_trail import describe
from corral.api.authz import AccessDep, Viewer
from corral.api.problems import documented
from corral.auth.principal import Role
from corral.strict import StrictModel

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class LoginIn(StrictModel):
    username: str = Field(max_length=64)
    password: str = Field(max_length=1024)


class LoginOut(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer <token>' until it expires.")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: str
    role: Role


class WhoAmI(BaseModel):
    name: str
    role: Role
    user: str | None = Field(description="The stored user; null for the admin token and --no-auth.")
    token_id: str | None


@router.post(
    "/login",
    summary="Log in with a user name and password; answers a short-lived token",
    responses=documented(401),
)
async def login(body: LoginIn, access: AccessDep, request: Request) -> LoginOut:
    describe(request, actor=body.username, target=f"users/{body.username}")
    session = await access.accounts.login(body.username, body.password)
    return LoginOut(token=session.token, expires_at=session.expires_at, user=session.user, role=session.role)


@router.get("/whoami", summary="Who the token you sent stands for")
async def whoami(caller: Viewer) -> WhoAmI:
    return WhoAmI(name=caller.name, role=caller.role, user=caller.user, token_id=caller.token_id)
