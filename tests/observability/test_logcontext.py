"""Log context: fields bound for a stretch of work, inherited by the tasks it starts, put on records."""

from __future__ import annotations

import logging

import anyio
import pytest

from corral.observability import logcontext
from corral.observability.logcontext import ContextFilter, bound, current, fields_of, fresh

pytestmark = pytest.mark.anyio


async def test_a_task_started_inside_a_binding_keeps_its_fields_after_the_block_ends() -> None:
    seen: dict[str, str] = {}
    go = anyio.Event()

    async def worker() -> None:
        await go.wait()
        seen.update(current())

    async with anyio.create_task_group() as tg:
        with bound(server="echo"):
            tg.start_soon(worker)
        outside = dict(current())
        go.set()

    assert outside == {}
    assert seen == {"server": "echo"}


def test_bound_adds_to_the_fields_around_it_and_fresh_drops_them() -> None:
    with bound(execution="ex_1", step="a"):
        with bound(step="b", tool="echo"):
            nested = dict(current())
        with fresh(server="echo"):
            alone = dict(current())
        after = dict(current())

    assert nested == {"execution": "ex_1", "step": "b", "tool": "echo"}
    assert alone == {"server": "echo"}
    assert after == {"execution": "ex_1", "step": "a"}
    assert current() == {}


def test_the_filter_puts_the_fields_bound_where_a_line_was_logged_on_its_record() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.logcontext")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with bound(server="echo", task="t1"):
            logger.warning("inside")
        logger.warning("outside")
    finally:
        logger.removeHandler(handler)
        logger.propagate = True

    assert [dict(fields_of(record)) for record in records] == [{"server": "echo", "task": "t1"}, {}]
    assert logcontext.FIELDS[:2] == ("node", "server")
