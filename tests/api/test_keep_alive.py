"""The hub keeps an idle connection open longer than its clients do, so a client never reuses one the
hub is closing (which it hears as "Server disconnected without sending a response")."""

from __future__ import annotations

from urllib.parse import urlsplit

import anyio
import pytest

from tests.rig import RunHub

pytestmark = pytest.mark.anyio

HTTPX_KEEPALIVE_EXPIRY_S = 5.0


async def exchange(stream: anyio.abc.ByteStream, host: str) -> bytes:
    await stream.send(f"GET /healthz HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    answer = b""
    with anyio.fail_after(10):
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = await stream.receive()
            answer += chunk
    return answer


async def test_a_connection_idle_for_longer_than_a_client_keeps_one_still_answers(run_hub: RunHub) -> None:
    async with run_hub() as running:
        address = urlsplit(running.url)
        assert address.hostname is not None and address.port is not None
        async with await anyio.connect_tcp(address.hostname, address.port) as stream:
            first = await exchange(stream, address.netloc)
            await anyio.sleep(HTTPX_KEEPALIVE_EXPIRY_S + 1)  # what the test is about: an idle connection
            second = await exchange(stream, address.netloc)

    assert first.startswith(b"HTTP/1.1 200")
    assert second.startswith(b"HTTP/1.1 200")
