"""REST routes for a browser's session: swap the token you hold for a revocable one, and end it.

A login token (a signed JWT) cannot be revoked one by one, and the admin token or a pasted API
token should not sit in a browser's storage. So the dashboard swaps whatever it signed in with
for a *session*: an API token of the caller's role, owned by the caller, named ``dashboard
session``, lasting ``auth.session_ttl_s``. Signing out revokes it, which also closes the event
stream it opened at the stream's next token check.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from corral.api.audit_trail import describe
from corral.api.authz import AccessDep, Viewer
from corral.api.problems import documented
from corral.auth.principal import Role

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

SESSION_NAME = "dashboard session"


class SessionOut(BaseModel):
    token: str = Field(description="Send as 'Authorization: Bearer <token>'; DELETE /auth/session ends it.")
    token_type: Literal["bearer"] = "bearer"
    token_id: str
    expires_at: datetime | None
    name: str = Field(description="Who the session acts for, as the audit log names it.")
    role: Role


@router.post(
    "/session",
    summary="Swap the token you sent for a revocable session token of the same role",
    status_code=201,
    responses=documented(401),
)
async def open_session(caller: Viewer, access: AccessDep, request: Request) -> SessionOut:
    issued = await access.accounts.create_token(
        caller, SESSION_NAME, caller.role, access.settings.session_ttl_s
    )
    describe(request, target=f"tokens/{issued.token.id}")
    return SessionOut(
        token=issued.secret,
        token_id=issued.token.id,
        expires_at=issued.token.expires_at,
        name=caller.name,
        role=caller.role,
    )


@router.delete(
    "/session",
    summary="Sign out: revoke the session token this request was sent with (no other kind of token)",
    status_code=204,
    responses=documented(401, 422),
)
async def close_session(caller: Viewer, access: AccessDep, request: Request) -> None:
    describe(request, target=f"tokens/{caller.token_id}")
    await access.accounts.end_session(caller, SESSION_NAME)
