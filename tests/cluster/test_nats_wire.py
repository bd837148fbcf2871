"""The messages between hub and nodes: an outcome brings back the node's error as the same class."""

from __future__ import annotations

import mcp_types as types
import pytest

from corral.cluster.nats.wire import Heartbeat, Outcome, WireError, decode, encode
from corral.errors import CircuitOpen, UpstreamError, UpstreamTimeout


def test_an_outcome_carries_a_result_across_unchanged() -> None:
    result = types.CallToolResult(content=[types.TextContent(type="text", text="hi")], is_error=True)

    back = decode(Outcome, encode(Outcome.of_result("c_1", result))).unwrap("lab.echo")

    assert back == result


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (CircuitOpen("circuit open after 5 failures"), CircuitOpen),
        (UpstreamTimeout("no answer within 3s"), UpstreamTimeout),
        (UpstreamError("went away"), UpstreamError),
    ],
)
def test_an_outcome_brings_back_the_nodes_error_as_its_class(error: UpstreamError, expected: type) -> None:
    outcome = decode(Outcome, encode(Outcome.of_error("c_1", error)))

    with pytest.raises(expected) as raised:
        outcome.unwrap("lab.echo")

    assert type(raised.value) is expected
    assert raised.value.message == error.message and raised.value.details == {"server": "lab.echo"}


def test_an_unknown_error_code_comes_back_as_an_upstream_error() -> None:
    outcome = Outcome.model_validate({"call_id": "c_1", "error": {"code": "from_the_future", "message": "?"}})

    with pytest.raises(UpstreamError, match=r"^\?$"):
        outcome.unwrap("lab.echo")


def test_a_message_that_is_not_one_is_a_wire_error_and_unknown_fields_are_ignored() -> None:
    with pytest.raises(WireError, match="not a Heartbeat"):
        decode(Heartbeat, b'{"seq": "many"}')

    beat = decode(Heartbeat, b'{"boot_id": "b1", "seq": 3, "added_later": true}')

    assert (beat.boot_id, beat.seq, beat.servers) == ("b1", 3, {})
