"""Which events a client follows: a topic filter parsed from ``?topics=``.

The syntax is a comma-separated list of items; an item is a whole topic
(``servers``) or one subject of a topic (``servers:NAME``, ``executions:ID``).
No filter means every topic the client may read. Pure; no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from corral.errors import Forbidden, InvalidInput
from corral.events.models import Event

TOPICS = ("servers", "workflows", "executions", "tasks", "nodes", "metrics", "audit")
# Who did what is for administrators only.
ADMIN_TOPICS = frozenset({"audit"})
MAX_ITEMS = 64
MAX_SUBJECT = 256


@dataclass(frozen=True)
class TopicFilter:
    topics: frozenset[str]
    """Every event of these topics."""
    subjects: frozenset[tuple[str, str]]
    """Only these ``(topic, subject)`` pairs, for topics not followed whole."""

    @classmethod
    def everything(cls, *, admin: bool) -> TopicFilter:
        allowed = TOPICS if admin else tuple(topic for topic in TOPICS if topic not in ADMIN_TOPICS)
        return cls(frozenset(allowed), frozenset())

    @classmethod
    def requested(cls, text: str | None, *, admin: bool) -> TopicFilter:
        """What a client asked for (everything it may read when ``text`` is None).

        Raises:
            InvalidInput: see ``parse``.
            Forbidden: a topic only an admin may follow, asked for by someone else.
        """
        if text is None:
            return cls.everything(admin=admin)
        topics = cls.parse(text)
        refused = sorted(topics.named & ADMIN_TOPICS)
        if refused and not admin:
            raise Forbidden(f"topics: only an admin may follow {', '.join(refused)}")
        return topics

    @classmethod
    def parse(cls, text: str) -> TopicFilter:
        """Parse ``servers,metrics`` or ``servers:echo,executions:42``.

        Raises:
            InvalidInput: an unknown topic, an empty subject, or too many items.
        """
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise InvalidInput(f"topics: name at least one of {', '.join(TOPICS)}")
        if len(items) > MAX_ITEMS:
            raise InvalidInput(f"topics: at most {MAX_ITEMS} items")
        topics: set[str] = set()
        subjects: set[tuple[str, str]] = set()
        for item in items:
            topic, colon, subject = item.partition(":")
            if topic not in TOPICS:
                raise InvalidInput(f"topics: unknown topic {topic!r}; known: {', '.join(TOPICS)}")
            if not colon:
                topics.add(topic)
            elif not subject or len(subject) > MAX_SUBJECT:
                raise InvalidInput(f"topics: {item!r} needs a subject of 1 to {MAX_SUBJECT} characters")
            else:
                subjects.add((topic, subject))
        return cls(frozenset(topics), frozenset(pair for pair in subjects if pair[0] not in topics))

    @property
    def named(self) -> frozenset[str]:
        """Every topic this filter lets any event of through."""
        return self.topics | {topic for topic, _ in self.subjects}

    def matches(self, event: Event) -> bool:
        return event.topic in self.topics or (event.topic, event.subject) in self.subjects

    def subjects_of(self, topic: str) -> list[str] | None:
        """The subjects followed in ``topic``; None when the whole topic is."""
        if topic in self.topics:
            return None
        return sorted(subject for named, subject in self.subjects if named == topic)

    def describe(self) -> list[str]:
        return sorted(self.topics) + sorted(f"{topic}:{subject}" for topic, subject in self.subjects)
