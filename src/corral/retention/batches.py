"""How many rows the next pruning transaction deletes: as many as fit in a short write, no more.

Pure logic: a batch that took longer than the target halves the next one; one that took much less
doubles it, up to the configured most.
"""

from __future__ import annotations

TARGET_S = 0.05
"""How long one pruning transaction may hold the store's write turn."""
FIRST = 50


class BatchSizer:
    def __init__(self, most: int, target_s: float = TARGET_S) -> None:
        self.most = most
        self.size = min(FIRST, most)
        self._target_s = target_s

    def took(self, seconds: float) -> None:
        """Adjust the next batch after one that took ``seconds``."""
        if seconds > self._target_s:
            self.size = max(1, self.size // 2)
        elif seconds < self._target_s / 4:
            self.size = min(self.most, self.size * 2)
