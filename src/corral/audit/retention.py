"""Which audit entries retention may delete: any, oldest first (they are archived before they go)."""

from __future__ import annotations

from corral.audit.store import AuditRow
from corral.db.pruning import Prunable

AUDIT = Prunable("audit", AuditRow.id, AuditRow.time, numbered=True)
