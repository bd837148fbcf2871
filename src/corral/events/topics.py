"""Which events a client follows: a topic filter parsed from ``?topics=`` (and ``?types=``).

The syntax is a comma-separated list of items; an item is a whole topic
(``servers``) or one subject of a topic (``servers:NAME``, ``executions:ID``).
No filter means every topic the client may read. ``types`` narrows that to
events of some types: exact (``execution.completed``) or a prefix ending in
``*`` (``execution.*``). Pure; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from corral.errors import Forbidden, InvalidInput
from corral.events.models import Event

TOPICS = ("servers", "workflows", "executions", "tasks", "nodes", "metrics", "audit")
# Who did what is for administrators only.
ADMIN_TOPICS = frozenset({"audit"})
MAX_ITEMS = 64
MAX_SUBJECT = 256
EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_.]*\*?$")


@dataclass(frozen=True)
class TopicFilter:
    topics: frozenset[str]
    """Every event of these topics."""
    subjects: frozenset[tuple[str, str]]
    """Only these ``(topic, subject)`` pairs, for topics not followed whole."""
    types: frozenset[str] = frozenset()
    """Only events of these types (any when empty)."""
    type_prefixes: tuple[str, ...] = ()
    """Only events whose type starts with one of these (from ``execution.*``)."""

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

    def with_types(self, text: str | None) -> TopicFilter:
        """This filter narrowed to the event types in ``text`` (``execution.completed,step.*``).

        Raises:
            InvalidInput: an item that is not an event type or a prefix ending in '*', or too many.
        """
        if text is None:
            return self
        items = [item.strip() for item in text.split(",") if item.strip()]
        if not items:
            raise InvalidInput("types: name at least one event type, e.g. execution.completed or execution.*")
        if len(items) > MAX_ITEMS:
            raise InvalidInput(f"types: at most {MAX_ITEMS} items")
        for item in items:
            if len(item) > MAX_SUBJECT or not EVENT_TYPE.match(item):
                raise InvalidInput(
                    f"types: {item!r} is not an event type (e.g. execution.completed) "
                    "or a prefix ending in '*' (e.g. execution.*)"
                )
        exact = frozenset(item for item in items if not item.endswith("*"))
        prefixes = tuple(sorted({item.removesuffix("*") for item in items if item.endswith("*")}))
        return replace(self, types=exact, type_prefixes=prefixes)

    @property
    def by_type(self) -> bool:
        """Whether only some event types pass."""
        return bool(self.types or self.type_prefixes)

    @property
    def named(self) -> frozenset[str]:
        """Every topic this filter lets any event of through."""
        return self.topics | {topic for topic, _ in self.subjects}

    def matches(self, event: Event) -> bool:
        if not (event.topic in self.topics or (event.topic, event.subject) in self.subjects):
            return False
        return not self.by_type or event.type in self.types or event.type.startswith(self.type_prefixes)

    def subjects_of(self, topic: str) -> list[str] | None:
        """The subjects followed in ``topic``; None when the whole topic is."""
        if topic in self.topics:
            return None
        return sorted(subject for named, subject in self.subjects if named == topic)

    def describe(self) -> list[str]:
        return sorted(self.topics) + sorted(f"{topic}:{subject}" for topic, subject in self.subjects)

    def describe_types(self) -> list[str]:
        """The event types asked for, as given (empty: every type)."""
        return sorted(self.types) + [f"{prefix}*" for prefix in self.type_prefixes]
