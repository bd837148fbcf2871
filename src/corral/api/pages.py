"""Cursor pagination shared by every REST list: the page model, the ``limit`` parameter, opaque cursors.

A list is sorted by a key that never repeats (a name, an id, a creation time with an id); a
page ends with ``next_cursor``, the key of its last item encoded so that callers treat it as
opaque, and the next page starts after it. Because the cursor names an item rather than an
offset, adding or removing items between pages moves nothing: no item is shown twice or skipped.
Stores apply the key in their query (``after``/``before``); lists held in memory use ``page_of``.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from corral.errors import InvalidCursor

ItemT = TypeVar("ItemT")
KeyT = TypeVar("KeyT")
SortKey = TypeVar("SortKey", str, int)

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = Field(
        None, description="Pass as 'cursor' to get the next page; null on the last page."
    )


def limit_query(default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> Any:
    """The ``limit`` parameter of a list, its default and maximum stated in the OpenAPI document."""
    return Query(ge=1, le=maximum, description=f"Items per page: {default} by default, at most {maximum}.")


Limit = Annotated[int, limit_query()]
Cursor = Annotated[
    str | None, Query(description="The next_cursor of the previous page; the first page when omitted.")
]


@dataclass(frozen=True)
class Keyset(Generic[KeyT]):
    """The cursors of one list: the sort key of a page's last item, tagged with the list's name so a
    cursor handed out by one list is refused by another."""

    scope: str
    dump: Callable[[KeyT], Any]
    load: Callable[[Any], KeyT]

    def cursor(self, key: KeyT) -> str:
        text = json.dumps([self.scope, self.dump(key)], separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def key(self, cursor: str | None) -> KeyT | None:
        """The key a cursor stands for; None for the first page. Raises: InvalidCursor."""
        if cursor is None:
            return None
        try:
            padded = cursor + "=" * (-len(cursor) % 4)
            scope, value = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
            if scope != self.scope:
                raise ValueError(scope)
            return self.load(value)
        except (ValueError, TypeError, UnicodeError, binascii.Error):
            raise InvalidCursor(f"cursor: {cursor!r} is not a cursor this list handed out") from None


def _exactly(kind: type[SortKey]) -> Callable[[Any], SortKey]:
    def load(value: Any) -> SortKey:
        if type(value) is not kind:
            raise TypeError(value)
        return value

    return load


def _time_and_id(value: Any) -> tuple[datetime, str]:
    at, ident = value
    if not isinstance(at, str) or not isinstance(ident, str):
        raise TypeError(value)
    moment = datetime.fromisoformat(at)
    if moment.tzinfo is None:
        raise ValueError(at)
    return moment, ident


def by_text(scope: str) -> Keyset[str]:
    """Cursors of a list sorted by a unique name."""
    return Keyset(scope, str, _exactly(str))


def by_number(scope: str) -> Keyset[int]:
    """Cursors of a list sorted by a unique number (an id, a sequence number)."""
    return Keyset(scope, int, _exactly(int))


def by_time_and_id(scope: str) -> Keyset[tuple[datetime, str]]:
    """Cursors of a list sorted by creation time, ties broken by id."""
    return Keyset(scope, lambda key: [key[0].isoformat(), key[1]], _time_and_id)


def next_page(
    rows: list[ItemT], limit: int, keys: Keyset[KeyT], key_of: Callable[[ItemT], KeyT]
) -> tuple[list[ItemT], str | None]:
    """The page and its ``next_cursor`` from ``rows`` fetched with ``limit + 1``: the extra row only says
    that another page follows."""
    page = rows[:limit]
    more = len(rows) > limit
    return page, keys.cursor(key_of(page[-1])) if more and page else None


def page_of(
    items: Iterable[ItemT],
    key_of: Callable[[ItemT], SortKey],
    limit: int,
    keys: Keyset[SortKey],
    cursor: str | None,
) -> tuple[list[ItemT], str | None]:
    """One page of a list held in memory, in ascending order of ``key_of``. Raises: InvalidCursor."""
    after = keys.key(cursor)
    ordered = sorted(items, key=key_of)
    rest = ordered if after is None else [item for item in ordered if key_of(item) > after]
    return next_page(rest[: limit + 1], limit, keys, key_of)
