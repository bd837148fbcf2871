"""Tables that fit the terminal: shorter headers first, then the least useful columns left out.

Rich fits a table that is too wide by squeezing every column, which cuts headers to ``TRA…``, pids to
``12…`` and wraps values over lines. Here each column says what it may give up: a shorter header, its
place (columns go in the order of their ``drop``), or for free text its tail (cut with an ellipsis).
What was left out is named under the table. Pure: the width is given, nothing is printed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text

SHRUNK_WIDTH = 16
"""The narrowest a free-text column is cut to before columns are left out."""


@dataclass(frozen=True)
class Column:
    header: str
    short: str | None = None
    """The header when space is short."""
    drop: int | None = None
    """Left out when the table does not fit, lowest first; None: always shown."""
    free_text: bool = False
    """May be cut with an ellipsis (an error message), down to ``SHRUNK_WIDTH``."""


def _width(cell: str) -> int:
    return max((Text.from_markup(line).cell_len for line in cell.splitlines()), default=0)


def fitted(
    columns: Sequence[Column], rows: Sequence[Sequence[str]], width: int, *, title: str | None = None
) -> Table:
    """A table of ``rows`` (Rich markup, one cell per column) at most ``width`` cells wide when it can be.

    Headers are shortened first, then columns left out in their ``drop`` order, until it fits; the
    columns that are shown keep their values whole, but a free-text column may be cut.
    """
    widest = [max([_width(row[index]) for row in rows], default=0) for index in range(len(columns))]
    shown = list(range(len(columns)))
    short = False

    def header(index: int) -> str:
        column = columns[index]
        return column.short if short and column.short else column.header

    def needed(index: int) -> int:
        natural = max(len(header(index)), widest[index])
        if columns[index].free_text:
            return min(natural, max(len(header(index)), SHRUNK_WIDTH))
        return natural

    # A boxed table: each column has one cell of padding each side and a rule after it, plus the first rule.
    while sum(needed(index) for index in shown) + 3 * len(shown) + 1 > width:
        if not short:
            short = True
            continue
        droppable = [index for index in shown if columns[index].drop is not None]
        if not droppable:
            break
        shown.remove(min(droppable, key=lambda index: columns[index].drop or 0))
    hidden = [column.header for index, column in enumerate(columns) if index not in shown]
    table = Table(
        title=title,
        header_style="bold",
        caption=_wrapped(f"not shown, for width: {', '.join(hidden)}", width) if hidden else None,
        caption_style="dim",
        caption_justify="left",
    )
    # Rich squeezes every column when one is too wide; free text gets what the others leave instead.
    free = [index for index in shown if columns[index].free_text]
    fixed = sum(needed(index) for index in shown if index not in free) + 3 * len(shown) + 1
    room = max(SHRUNK_WIDTH, (width - fixed) // len(free)) if free else 0
    for index in shown:
        if columns[index].free_text:
            table.add_column(
                header(index), no_wrap=True, overflow="ellipsis", max_width=min(room, max(widest[index], 1))
            )
        else:
            table.add_column(header(index), no_wrap=True, min_width=needed(index))
    for row in rows:
        table.add_row(*(row[index] for index in shown))
    return table


def _wrapped(text: str, width: int) -> str:
    """``text`` broken at spaces into lines of at most ``width`` (the console does not wrap)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "\n".join(lines)
