"""REST route for retention: how far back the event stream can resume, and what pruning did.

The limits themselves are runtime settings (``/api/v1/settings``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from corral.api.authz import needs
from corral.api.context import ApiContext, context
from corral.auth.principal import Role

router = APIRouter(prefix="/api/v1/retention", tags=["retention"])
Ctx = Annotated[ApiContext, Depends(context)]


class ResumeWindowOut(BaseModel):
    oldest_event_id: int | None = Field(
        description="The oldest stored event: a client that saw the one before it can still resume "
        "(null when none is stored)."
    )
    oldest_event_time: datetime | None = Field(description="When the oldest stored event happened.")
    newest_event_id: int = Field(description="The newest stored event.")
    age_s: float = Field(description="How far back resuming reaches, in seconds.")


class KindOut(BaseModel):
    deleted: int = Field(description="Rows pruned since the hub started.")
    archived: int = Field(description="Rows archived before they were pruned since the hub started (audit).")
    last_deleted: int = Field(description="Rows pruned by the last pass.")
    last_pass: datetime | None = Field(description="When the last pass began; null before the first.")
    last_error: str | None = Field(description="Why the last pass stopped early; null when it did not.")


class RetentionOut(BaseModel):
    resume_window: ResumeWindowOut
    archive_dir: str = Field(description="Where audit entries are archived before they are pruned.")
    kinds: dict[str, KindOut] = Field(description="Each kind of record retention prunes.")


@router.get(
    "", summary="The event stream's resume window and what retention pruned", dependencies=needs(Role.VIEWER)
)
async def get_retention(ctx: Ctx) -> RetentionOut:
    window = ctx.event_log.resume_window()
    return RetentionOut(
        resume_window=ResumeWindowOut(
            oldest_event_id=window.oldest_id,
            oldest_event_time=window.oldest_time,
            newest_event_id=window.newest_id,
            age_s=round(window.age_s, 3),
        ),
        archive_dir=str(ctx.retention.archive.folder),
        kinds={
            kind: KindOut(
                deleted=status.deleted,
                archived=status.archived,
                last_deleted=status.last_deleted,
                last_pass=status.last_pass,
                last_error=status.last_error,
            )
            for kind, status in ctx.retention.status.items()
        },
    )
