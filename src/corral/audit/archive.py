"""The audit archive: entries leaving the store, kept as gzip-compressed JSON lines, one file a day.

``audit-YYYY-MM-DD.jsonl.gz`` holds the entries of that UTC day, one JSON object a line with the same
fields the API returns (``id``, ``time``, ``actor``, ``action``, ``target``, ``outcome``, ``source``,
``duration_ms``, ``detail``); ``zcat`` or any gzip reader reads it. Each archived batch is appended as
one more gzip member and synced to disk before retention deletes those entries, so an entry is in the
archive before it leaves the store. A crash between the two archives a batch again: an entry may then
appear twice, with the same ``id``.
"""

from __future__ import annotations

import gzip
import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import anyio

from corral.audit.log import published
from corral.audit.models import AuditEntry


class AuditArchive:
    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, day: str) -> Path:
        return self.folder / f"audit-{day}.jsonl.gz"

    async def add(self, entries: list[AuditEntry]) -> list[Path]:
        """Append ``entries`` to their days' files and sync them; the files written.

        Raises: OSError — the archive could not be written (the entries must then stay in the store).
        """
        return await anyio.to_thread.run_sync(self._add, entries)

    def _add(self, entries: list[AuditEntry]) -> list[Path]:
        by_day: dict[str, list[bytes]] = defaultdict(list)
        for entry in entries:
            line = json.dumps(_record(entry), separators=(",", ":"), ensure_ascii=False)
            by_day[entry.time.date().isoformat()].append(line.encode() + b"\n")
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        written = []
        for day, lines in sorted(by_day.items()):
            path = self.path_for(day)
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(descriptor, "ab") as file:
                whole = os.fstat(descriptor).st_size
                try:
                    file.write(gzip.compress(b"".join(lines), compresslevel=6))
                    file.flush()
                    os.fsync(descriptor)
                except OSError:
                    # A member cut short (a full disk) would make the rest of the file unreadable.
                    os.ftruncate(descriptor, whole)
                    raise
            written.append(path)
        return written


def _record(entry: AuditEntry) -> dict[str, Any]:
    """An archived line: the entry as its event announced it, with its id."""
    return {"id": entry.id, **published(entry)}
