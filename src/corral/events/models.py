"""One event: a numbered, timestamped fact about a subject in a topic."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class Event:
    id: int
    topic: str
    type: str
    subject: str
    time: datetime
    data: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "topic": self.topic,
            "type": self.type,
            "subject": self.subject,
            "time": self.time.isoformat(),
            "data": self.data,
        }

    @cached_property
    def wire(self) -> str:
        """The event as one WebSocket text message; encoded once however many clients receive it."""
        return json.dumps(self.to_json(), separators=(",", ":"), default=str)
