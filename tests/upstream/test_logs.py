"""The stderr buffer: whole lines kept, masked, and handed on as they come."""

from __future__ import annotations

from datetime import UTC, datetime

from corral.upstream.logs import LogBuffer, LogLine

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_each_batch_of_whole_lines_is_handed_on_once_and_a_partial_line_waits() -> None:
    batches: list[list[LogLine]] = []
    buffer = LogBuffer(on_lines=batches.append)
    buffer.feed("first\nsecond\npart", NOW)
    buffer.feed("ial\n", NOW)
    buffer.feed("no newline yet", NOW)
    buffer.note("exited with code 1", NOW)
    assert [[line.text for line in batch] for batch in batches] == [
        ["first", "second"],
        ["partial"],
        ["[corral] exited with code 1"],
    ]
    assert [line.text for line in buffer.tail()] == [
        "first",
        "second",
        "partial",
        "[corral] exited with code 1",
    ]


def test_lines_handed_on_are_masked_like_the_kept_ones() -> None:
    batches: list[list[LogLine]] = []
    buffer = LogBuffer(on_lines=batches.append)
    buffer.feed("Authorization: Bearer sk-abcdefghijklmnopqrstuvwxyz123456\n", NOW)
    assert "sk-abcdef" not in batches[0][0].text
    assert batches[0][0] == buffer.tail()[0]
