"""Topic filters and the client message limit: pure logic, no hub."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from corral.errors import Forbidden, InvalidInput
from corral.events.models import Event
from corral.events.ratelimit import TokenBucket
from corral.events.topics import TopicFilter


def event(topic: str, subject: str) -> Event:
    return Event(1, topic, "test.event", subject, datetime(2026, 1, 1, tzinfo=UTC))


def test_a_filter_takes_whole_topics_and_single_subjects() -> None:
    topics = TopicFilter.parse(" servers:echo , metrics,executions:ex_1")

    assert topics.describe() == ["metrics", "executions:ex_1", "servers:echo"]
    assert topics.matches(event("servers", "echo"))
    assert not topics.matches(event("servers", "other"))
    assert topics.matches(event("metrics", "hub"))
    assert topics.matches(event("executions", "ex_1"))
    assert not topics.matches(event("audit", "echo"))
    assert topics.subjects_of("servers") == ["echo"]
    assert topics.subjects_of("metrics") is None
    assert topics.named == {"servers", "metrics", "executions"}


def test_a_whole_topic_covers_its_subjects() -> None:
    topics = TopicFilter.parse("servers:echo,servers")

    assert topics.describe() == ["servers"]
    assert topics.matches(event("servers", "other"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "name at least one"),
        ("servers,weather", "unknown topic 'weather'"),
        ("servers:", "needs a subject"),
        (",".join(f"servers:s{i}" for i in range(65)), "at most 64"),
    ],
)
def test_a_bad_filter_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        TopicFilter.parse(text)


def test_everything_leaves_audit_to_admins() -> None:
    assert "audit" in TopicFilter.everything(admin=True).topics
    assert "audit" not in TopicFilter.everything(admin=False).topics
    assert "servers" in TopicFilter.everything(admin=False).topics


def test_the_message_limit_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(rate=5, capacity=5, now=100.0)

    burst = [bucket.take(100.0) for _ in range(6)]
    later = [bucket.take(100.2), bucket.take(100.2)]
    much_later = [bucket.take(110.0) for _ in range(6)]

    assert burst == [True] * 5 + [False]
    assert later == [True, False]
    assert much_later == [True] * 5 + [False]


def test_only_an_admin_may_ask_for_the_audit_topic() -> None:
    assert TopicFilter.requested("audit,servers", admin=True).topics == {"audit", "servers"}
    assert "audit" not in TopicFilter.requested(None, admin=False).topics
    with pytest.raises(Forbidden, match="only an admin may follow audit"):
        TopicFilter.requested("servers,audit:echo/echo", admin=False)
