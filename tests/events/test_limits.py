"""What the stream refuses: missing or wrong tokens, oversized and flooding clients, silent clients."""

from __future__ import annotations

import anyio
import pytest

from tests.events.conftest import RunStreamHub, closed_with, receive

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("via", ["subprotocol", "query"])
@pytest.mark.parametrize("token", [None, "corral_not-the-token"], ids=["no-token", "wrong-token"])
async def test_a_client_without_a_valid_token_is_closed_with_4401_and_gets_no_data(
    stream_hub: RunStreamHub, token: str | None, via: str
) -> None:
    async with stream_hub() as running, running.connect(token=token, via=via) as ws:
        code, reason, seen = await closed_with(ws)

    assert (code, seen) == (4401, [])
    assert reason == ("missing bearer token" if token is None else "invalid bearer token")
    assert ws.subprotocol == ("bearer" if token is not None and via == "subprotocol" else None)


async def test_a_message_over_the_size_limit_closes_the_socket_with_1009(stream_hub: RunStreamHub) -> None:
    async with stream_hub(max_message_bytes=256) as running, running.connect() as ws:
        await receive(ws)
        await ws.send('{"type": "ping", "data": "' + "x" * 300 + '"}')
        code, reason, seen = await closed_with(ws)

    assert code == 1009
    assert reason == "message too big: 328 bytes, at most 256"
    assert seen == []


async def test_a_client_sending_too_fast_is_closed_with_4429(stream_hub: RunStreamHub) -> None:
    async with stream_hub(max_messages_per_s=5) as running, running.connect() as ws:
        await receive(ws)
        for _ in range(20):
            await ws.send('{"type": "pong"}')
        code, reason, _ = await closed_with(ws)

    assert code == 4429
    assert reason == "too many messages: at most 5 per second"


async def test_the_hub_answers_pings_and_pings_on_its_interval(stream_hub: RunStreamHub) -> None:
    async with stream_hub(ping_interval_s=0.2) as running, running.connect(topics="servers") as ws:
        await receive(ws)
        await ws.send('{"type": "ping", "data": 7}')
        messages = [await receive(ws) for _ in range(3)]
        await ws.send("not json")
        with anyio.fail_after(10):
            while (error := await receive(ws))["type"] == "ping":
                pass

    assert {"type": "pong", "data": 7} in messages
    assert any(message["type"] == "ping" and "time" in message for message in messages)
    assert error["type"] == "error"


async def test_a_client_that_sends_nothing_for_the_idle_timeout_is_closed_with_4408(
    stream_hub: RunStreamHub,
) -> None:
    async with stream_hub(ping_interval_s=0.1, idle_timeout_s=0.5) as running, running.connect() as ws:
        code, reason, seen = await closed_with(ws)

    assert code == 4408
    assert reason == "idle: nothing from the client in 0.5 s"
    assert [message.count('"ping"') for message in seen[1:]] == [1] * (len(seen) - 1)


async def test_a_client_that_answers_pings_stays_connected_past_the_idle_timeout(
    stream_hub: RunStreamHub,
) -> None:
    async with stream_hub(ping_interval_s=0.1, idle_timeout_s=0.5) as running, running.connect() as ws:
        await receive(ws)
        pings = 0
        with anyio.fail_after(10):
            while pings < 12:  # well past the idle timeout
                if (await receive(ws))["type"] == "ping":
                    pings += 1
                    await ws.send('{"type": "pong"}')
        assert ws.close_code is None
