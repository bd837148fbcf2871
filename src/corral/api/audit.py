"""REST routes for the audit log: search it with filters and a cursor, export it as JSON lines or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from corral.api.authz import AccessDep, Viewer, needs
from corral.api.pages import DEFAULT_LIMIT, Cursor, Limit, Page, by_number, next_page
from corral.audit.models import AuditEntry, AuditFilter
from corral.audit.store import AuditStore
from corral.auth.principal import Role

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])
ENTRIES = by_number("audit")

EXPORT_PAGE = 1000
CSV_COLUMNS = ("id", "time", "actor", "action", "target", "outcome", "source", "duration_ms", "detail")
MEDIA_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


class AuditEntryOut(BaseModel):
    id: int
    time: datetime
    actor: str
    action: str
    target: str
    outcome: str
    source: str
    duration_ms: float | None
    detail: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditEntryOut:
        return cls(
            id=entry.id or 0,
            time=entry.time,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            outcome=entry.outcome,
            source=entry.source,
            duration_ms=entry.duration_ms,
            detail=entry.detail,
        )


class AuditPage(Page[AuditEntryOut]):
    """Audit entries, newest first."""


ActionQuery = Annotated[str | None, Query(description="What, e.g. 'servers.restart' or 'tool.call'.")]
TargetQuery = Annotated[
    str | None, Query(description="To what, e.g. 'servers/echo'; a trailing '*' matches a prefix.")
]
OutcomeQuery = Annotated[str | None, Query(description="'ok' or an error code, e.g. 'forbidden'.")]
SinceQuery = Annotated[datetime | None, Query(description="From this time on (inclusive).")]
UntilQuery = Annotated[datetime | None, Query(description="Before this time (exclusive).")]


def audit_filter(
    actor: Annotated[str | None, Query(description="Who: a user name; 'admin' for the admin token.")] = None,
    action: ActionQuery = None,
    target: TargetQuery = None,
    outcome: OutcomeQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> AuditFilter:
    return AuditFilter(actor, action, target, outcome, since, until)


def own_filter(
    principal: Viewer,
    action: ActionQuery = None,
    target: TargetQuery = None,
    outcome: OutcomeQuery = None,
    since: SinceQuery = None,
    until: UntilQuery = None,
) -> AuditFilter:
    return AuditFilter(principal.name, action, target, outcome, since, until)


Filter = Annotated[AuditFilter, Depends(audit_filter)]
OwnFilter = Annotated[AuditFilter, Depends(own_filter)]


@router.get(
    "",
    summary="Audit entries, newest first; follow next_cursor for older ones",
    dependencies=needs(Role.ADMIN),
)
async def search_audit(
    where: Filter,
    access: AccessDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> AuditPage:
    return await _page(access.audit_store, where, limit, cursor)


@router.get(
    "/mine",
    summary="The caller's own audit entries, newest first (any role): e.g. action=tool.call for recent calls",
)
async def my_audit(
    where: OwnFilter,
    access: AccessDep,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> AuditPage:
    return await _page(access.audit_store, where, limit, cursor)


async def _page(store: AuditStore, where: AuditFilter, limit: int, cursor: str | None) -> AuditPage:
    entries = await store.query(where, limit=limit + 1, before_id=ENTRIES.key(cursor))
    page, next_cursor = next_page(entries, limit, ENTRIES, lambda entry: entry.id or 0)
    return AuditPage(items=[AuditEntryOut.of(entry) for entry in page], next_cursor=next_cursor)


@router.get(
    "/export",
    summary="Every matching audit entry, oldest first, as JSON lines or CSV",
    dependencies=needs(Role.ADMIN),
    response_class=StreamingResponse,
    responses={200: {"content": {MEDIA_TYPES["jsonl"]: {}, MEDIA_TYPES["csv"]: {}}}},
)
async def export_audit(
    where: Filter,
    access: AccessDep,
    format: Annotated[Literal["jsonl", "csv"], Query(description="jsonl or csv.")] = "jsonl",
) -> StreamingResponse:
    lines = _jsonl(access.audit_store, where) if format == "jsonl" else _csv(access.audit_store, where)
    return StreamingResponse(
        lines,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="corral-audit.{format}"'},
    )


async def _entries(store: AuditStore, where: AuditFilter) -> AsyncIterator[AuditEntryOut]:
    after: int | None = None
    while True:
        page = await store.query(where, limit=EXPORT_PAGE, after_id=after, oldest_first=True)
        for entry in page:
            yield AuditEntryOut.of(entry)
        if len(page) < EXPORT_PAGE:
            return
        after = page[-1].id


async def _jsonl(store: AuditStore, where: AuditFilter) -> AsyncIterator[str]:
    async for entry in _entries(store, where):
        yield entry.model_dump_json() + "\n"


async def _csv(store: AuditStore, where: AuditFilter) -> AsyncIterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    async for entry in _entries(store, where):
        row = entry.model_dump(mode="json")
        row["detail"] = json.dumps(row["detail"], sort_keys=True)
        writer.writerow(["" if row[column] is None else row[column] for column in CSV_COLUMNS])
        if buffer.tell() > 64 * 1024:
            yield _take(buffer)
    yield _take(buffer)


def _take(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
