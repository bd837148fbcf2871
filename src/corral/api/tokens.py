"""REST routes for API tokens: make one (shown once), list, revoke.

Anyone may make tokens for themselves, with at most their own role; a user
sees and revokes its own tokens, an admin everyone's.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from corral.api.audit_trail import describe
from corral.api.authz import AccessDep, Viewer
from corral.api.pages import DEFAULT_LIMIT, Cursor, Limit, Page, by_time_and_id, next_page
from corral.auth.models import ApiToken
from corral.auth.principal import Role
from corral.strict import StrictModel

router = APIRouter(prefix="/api/v1/tokens", tags=["tokens"])
TOKENS = by_time_and_id("tokens")


class TokenOut(BaseModel):
    id: str
    name: str
    role: Role
    owner: str | None = Field(description="The user it belongs to; null when made with the admin token.")
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    state: Literal["active", "expired", "revoked"]

    @classmethod
    def of(cls, token: ApiToken, now: datetime) -> TokenOut:
        return cls(
            id=token.id,
            name=token.name,
            role=token.role,
            owner=token.owner,
            created_at=token.created_at,
            expires_at=token.expires_at,
            revoked_at=token.revoked_at,
            state=token.state(now),
        )


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. It is shown this once and cannot be read again.")


class TokenList(Page[TokenOut]):
    """Tokens, oldest first."""


class TokenIn(StrictModel):
    name: str = Field(min_length=1, max_length=128, description="What the token is for.")
    role: Role = Field(description="admin, operator or viewer; at most your own role.")
    expires_in: float | None = Field(
        None, gt=0, description="Seconds until the token expires; it does not expire when omitted."
    )


@router.post("", status_code=201, summary="Make an API token for yourself (the token is shown once)")
async def create_token(body: TokenIn, caller: Viewer, access: AccessDep, request: Request) -> TokenCreated:
    issued = await access.accounts.create_token(caller, body.name, body.role, body.expires_in)
    describe(request, target=f"tokens/{issued.token.id}", role=body.role.value, name=body.name)
    view = TokenOut.of(issued.token, access.clock.now())
    return TokenCreated(**view.model_dump(), token=issued.secret)


@router.get(
    "", summary="Your API tokens (an admin sees everyone's), oldest first; never the tokens themselves"
)
async def list_tokens(
    caller: Viewer,
    access: AccessDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    state: Annotated[
        Literal["active", "expired", "revoked"] | None, Query(description="Only tokens in this state.")
    ] = None,
) -> TokenList:
    now = access.clock.now()
    after = TOKENS.key(cursor)
    matching: list[ApiToken] = []
    # The state depends on the time of asking, so it is judged here, a store page at a time.
    while len(matching) <= limit:
        tokens = await access.accounts.tokens(caller, after=after, limit=limit + 1)
        matching += [token for token in tokens if state is None or token.state(now) == state]
        if len(tokens) <= limit:
            break
        after = (tokens[-1].created_at, tokens[-1].id)
    page, next_cursor = next_page(matching, limit, TOKENS, lambda token: (token.created_at, token.id))
    return TokenList(items=[TokenOut.of(token, now) for token in page], next_cursor=next_cursor)


@router.delete("/{token_id}", status_code=204, summary="Revoke an API token (yours, or anyone's as an admin)")
async def revoke_token(token_id: str, caller: Viewer, access: AccessDep) -> None:
    await access.accounts.revoke_token(caller, token_id)
