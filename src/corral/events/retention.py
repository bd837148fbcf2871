"""Which stored events retention may delete: any, oldest first; a client resuming from one gets a reset."""

from __future__ import annotations

from corral.db.pruning import Prunable
from corral.events.store import EventRow

EVENTS = Prunable("events", EventRow.id, EventRow.time, numbered=True)
