"""An HTTP client transport that keeps connections to MCP servers alive across calls answered as SSE.

A Streamable HTTP server may answer a POST with an event stream that it ends right after the response.
The MCP client stops reading at the response and closes the stream; closing an HTTP/1.1 response before
its end forces the connection closed, so every such call would pay for a new TCP connection (and leave
one more socket in TIME_WAIT). Reading the little that is left first lets the connection go back to
the pool. The read is bounded in bytes and time: a server that keeps the stream open only gets the
close it would have got anyway, a moment later, and the caller has its response already.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import anyio
import httpx2

DRAIN_BYTES = 64 * 1024
DRAIN_S = 0.05


def keepalive_transport() -> httpx2.AsyncBaseTransport:
    return _KeepAliveTransport(httpx2.AsyncHTTPTransport())


class _KeepAliveTransport(httpx2.AsyncBaseTransport):
    def __init__(self, inner: httpx2.AsyncHTTPTransport) -> None:
        self._inner = inner

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        response = await self._inner.handle_async_request(request)
        content_type = response.headers.get("content-type", "")
        if request.method != "POST" or not content_type.startswith("text/event-stream"):
            return response
        assert isinstance(response.stream, httpx2.AsyncByteStream)
        return httpx2.Response(
            status_code=response.status_code,
            headers=response.headers,
            stream=_DrainOnClose(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class _DrainOnClose(httpx2.AsyncByteStream):
    def __init__(self, inner: httpx2.AsyncByteStream) -> None:
        self._inner = inner
        # One iterator for reading and draining: whoever stops reading leaves it where it was.
        self._parts = inner.__aiter__()

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for part in self._parts:
            yield part

    async def aclose(self) -> None:
        try:
            with anyio.move_on_after(DRAIN_S):
                drained = 0
                async for part in self._parts:
                    drained += len(part)
                    if drained > DRAIN_BYTES:
                        break
        except httpx2.TransportError:
            pass  # the connection is gone anyway; closing below is all there is to do
        finally:
            await self._inner.aclose()
