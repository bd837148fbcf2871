"""Context on every log line: fields bound for a stretch of work, copied onto each record.

Code that does work on behalf of something binds it (``with bound(server="echo"):``); every line
logged inside, and in every task started inside (anyio copies the context when it spawns a task),
carries the field. ``fresh`` starts a new unit of work that keeps nothing of its caller's fields: a
server's runner spawned while handling a tool call is not part of that call. ``ContextFilter``,
installed on the handler by the CLI's logging set-up, puts the fields on each record for the
formatters. Fields hold names and ids only, never secrets; messages need not repeat them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import MappingProxyType
from typing import TypedDict, Unpack, cast


class Fields(TypedDict, total=False):
    """Every field there is, in the order the text format prints them."""

    node: str
    server: str
    tool: str
    workflow: str
    execution: str
    step: str
    task: str


FIELDS = tuple(Fields.__annotations__)
RECORD_ATTRIBUTE = "corral_context"

_EMPTY: Mapping[str, str] = MappingProxyType({})
_bound: ContextVar[Mapping[str, str]] = ContextVar("corral_log_context", default=_EMPTY)


def current() -> Mapping[str, str]:
    """The fields bound here and now."""
    return _bound.get()


@contextmanager
def bound(**fields: Unpack[Fields]) -> Iterator[None]:
    """Add fields to the ones already bound, for the code inside and the tasks it starts."""
    with _binding(_bound.get(), fields):
        yield


@contextmanager
def fresh(**fields: Unpack[Fields]) -> Iterator[None]:
    """Bind only these fields, none of the caller's: for starting a task that is a unit of work of its own."""
    with _binding(_EMPTY, fields):
        yield


@contextmanager
def _binding(base: Mapping[str, str], fields: Fields) -> Iterator[None]:
    given = cast("Mapping[str, str]", fields)  # a TypedDict of str values
    token = _bound.set(MappingProxyType({**base, **given}))
    try:
        yield
    finally:
        _bound.reset(token)


def fields_of(record: logging.LogRecord) -> Mapping[str, str]:
    """The context fields ``ContextFilter`` put on a record (none when it did not pass one)."""
    found: Mapping[str, str] = getattr(record, RECORD_ATTRIBUTE, _EMPTY)
    return found


class ContextFilter(logging.Filter):
    """Copies the fields bound where a record was logged onto the record; never drops a record.

    On a handler it sees records of every logger, the libraries' included. Logging is synchronous,
    so the filter runs in the context of the code that logged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, RECORD_ATTRIBUTE):
            setattr(record, RECORD_ATTRIBUTE, _bound.get())
        return True
