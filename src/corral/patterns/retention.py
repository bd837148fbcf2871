"""Which pattern applications retention may delete: finished (or rejected) ones."""

from __future__ import annotations

from corral.db.pruning import Prunable
from corral.patterns.store import PatternApplicationRow

APPLICATIONS = Prunable("pattern_applications", PatternApplicationRow.id, PatternApplicationRow.finished_at)
