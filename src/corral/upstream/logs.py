"""A per-server ring buffer of stderr lines, so the API can show why a server died.

Lines are masked as they arrive (the servers' secret values, and anything token-like), so the
buffer never holds a secret the API could show. Whoever owns the buffer may also hear of each
batch of new lines (``on_lines``), to follow the log live.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from corral.secrets.redact import redact_text


@dataclass(frozen=True)
class LogLine:
    time: datetime
    text: str


class LogBuffer:
    def __init__(
        self,
        max_lines: int = 1000,
        max_line_chars: int = 4000,
        on_lines: Callable[[list[LogLine]], None] | None = None,
    ) -> None:
        self._lines: deque[LogLine] = deque(maxlen=max_lines)
        self._max_line_chars = max_line_chars
        self._partial = ""
        self._on_lines = on_lines

    def feed(self, chunk: str, now: datetime) -> None:
        """Add raw text; complete lines are kept, a trailing partial line waits for the rest."""
        text = self._partial + chunk
        *lines, self._partial = text.split("\n")
        if len(self._partial) > self._max_line_chars:
            lines.append(self._partial)
            self._partial = ""
        added = [LogLine(now, redact_text(line.rstrip("\r"))[: self._max_line_chars]) for line in lines]
        self._add(added)

    def note(self, text: str, now: datetime) -> None:
        """A line from the hub itself (spawned, exited with code N), marked as such."""
        self._add([LogLine(now, f"[corral] {redact_text(text)}")])

    def _add(self, lines: list[LogLine]) -> None:
        if not lines:
            return
        self._lines.extend(lines)
        if self._on_lines is not None:
            self._on_lines(lines)

    def tail(self, limit: int | None = None) -> list[LogLine]:
        lines = list(self._lines)
        return lines[-limit:] if limit else lines
