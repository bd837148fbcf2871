"""A per-server ring buffer of stderr lines, so the API can show why a server died.

Lines are masked as they arrive (the servers' secret values, and anything token-like), so the
buffer never holds a secret the API could show.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from corral.secrets.redact import redact_text


@dataclass(frozen=True)
class LogLine:
    time: datetime
    text: str


class LogBuffer:
    def __init__(self, max_lines: int = 1000, max_line_chars: int = 4000) -> None:
        self._lines: deque[LogLine] = deque(maxlen=max_lines)
        self._max_line_chars = max_line_chars
        self._partial = ""

    def feed(self, chunk: str, now: datetime) -> None:
        """Add raw text; complete lines are kept, a trailing partial line waits for the rest."""
        text = self._partial + chunk
        *lines, self._partial = text.split("\n")
        if len(self._partial) > self._max_line_chars:
            lines.append(self._partial)
            self._partial = ""
        for line in lines:
            text = redact_text(line.rstrip("\r"))
            self._lines.append(LogLine(now, text[: self._max_line_chars]))

    def note(self, text: str, now: datetime) -> None:
        """A line from the hub itself (spawned, exited with code N), marked as such."""
        self._lines.append(LogLine(now, f"[corral] {redact_text(text)}"))

    def tail(self, limit: int | None = None) -> list[LogLine]:
        lines = list(self._lines)
        return lines[-limit:] if limit else lines
