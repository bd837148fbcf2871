"""Cursors and pages of lists held in memory: the pure part of REST pagination."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from corral.api.pages import by_number, by_text, by_time_and_id, page_of
from corral.errors import InvalidCursor


def test_a_cursor_gives_back_the_key_it_was_made_from() -> None:
    at = datetime(2026, 11, 21, 17, 0, 0, 123456, tzinfo=UTC)

    assert by_text("servers").key(by_text("servers").cursor("echo")) == "echo"
    assert by_number("audit").key(by_number("audit").cursor(42)) == 42
    assert by_time_and_id("runs").key(by_time_and_id("runs").cursor((at, "ex_1"))) == (at, "ex_1")
    assert by_text("servers").key(None) is None


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "",
        "é",
        by_text("users").cursor("alice"),  # another list's
        by_text("servers").cursor("echo")[:-2],  # cut short
        by_number("servers").cursor(3),  # a number where a name is the key
    ],
)
def test_a_cursor_the_list_did_not_hand_out_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor):
        by_text("servers").key(cursor)


def test_a_time_cursor_without_a_zone_is_refused() -> None:
    naive = by_time_and_id("runs").cursor((datetime(2026, 1, 1), "ex_1"))
    with pytest.raises(InvalidCursor):
        by_time_and_id("runs").key(naive)


def test_pages_of_a_list_in_memory_show_every_item_once_even_when_items_come_and_go() -> None:
    keys = by_text("names")
    names = ["delta", "alpha", "echo", "charlie", "bravo", "foxtrot"]
    first, cursor = page_of(names, str, 2, keys, None)
    names += ["aaron"]  # sorts before the cursor: later pages do not shift
    names.remove("charlie")  # after the cursor: simply gone
    second, cursor_2 = page_of(names, str, 2, keys, cursor)
    third, cursor_3 = page_of(names, str, 2, keys, cursor_2)

    assert (first, second, third) == (["alpha", "bravo"], ["delta", "echo"], ["foxtrot"])
    assert cursor is not None and cursor_2 is not None and cursor_3 is None
