"""Talking to a running hub over its REST API, with the token of a local hub by default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from websockets.exceptions import WebSocketException
from websockets.sync.client import connect
from websockets.typing import Subprotocol

from corral.auth.admin_token import read_admin_token
from corral.errors import CorralError, Forbidden, NotFound, Unauthorized, Unavailable

REQUEST_TIMEOUT_S = 30.0
MAX_PAGE = 1000  # the largest page a REST list gives


class HubClient:
    def __init__(self, url: str, token: str | None) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}

    @classmethod
    def local(cls, url: str, token: str | None, data_dir: Path) -> HubClient:
        return cls(url, token or read_admin_token(data_dir / "admin.token"))

    def get(self, path: str, **params: Any) -> Any:
        return self._request("GET", path, params=params)

    def every(self, path: str, **params: Any) -> dict[str, list[Any]]:
        """Every item of a list, following ``next_cursor`` to the last page, as ``{"items": [...]}``."""
        items: list[Any] = []
        cursor = None
        while True:
            page = self.get(path, **params, limit=MAX_PAGE, **({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return {"items": items}

    def post(self, path: str, body: Any = None) -> Any:
        return self._request("POST", path, json=body)

    def put(self, path: str, body: Any = None) -> Any:
        return self._request("PUT", path, json=body)

    def patch(self, path: str, body: Any = None) -> Any:
        return self._request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self._request("DELETE", path)

    def events(self, topics: str) -> Iterator[dict[str, Any]]:
        """Follow the hub's event stream (``/ws/events``) on ``topics``: the snapshot first, then events,
        one message at a time; the bearer token goes in the WebSocket subprotocol, not the URL.

        Raises: Unavailable when the stream cannot be opened or breaks.
        """
        token = self._headers.get("Authorization", "").removeprefix("Bearer ")
        url = self.url.replace("http", "ws", 1) + f"/ws/events?topics={topics}"
        try:
            protocols = [Subprotocol("bearer"), Subprotocol(token)] if token else None
            with connect(url, subprotocols=protocols, open_timeout=10) as stream:
                for message in stream:
                    body: dict[str, Any] = json.loads(message)
                    if body.get("type") == "ping":
                        stream.send(json.dumps({"type": "pong"}))
                        continue
                    yield body
        except (OSError, WebSocketException) as exc:
            raise Unavailable(f"the event stream of {self.url} broke: {exc}") from exc

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Raises: CorralError subclasses carrying the hub's own message."""
        try:
            # A client per request, closed with it: a command makes one or two requests, and a
            # pool left open leaks its sockets when the CLI runs in process (tests, embedding).
            with httpx.Client(base_url=self.url, headers=self._headers, timeout=REQUEST_TIMEOUT_S) as http:
                response = http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise Unavailable(
                f"cannot reach the hub at {self.url}: {exc}; is `corral serve` running?"
            ) from exc
        if response.status_code < 400:
            return response.json() if response.content else None
        try:
            problem = response.json()
            detail = problem.get("detail", response.text)
        except ValueError:
            detail = response.text
        if response.status_code == 401:
            raise Unauthorized(f"the hub refused the token: {detail}")
        if response.status_code == 403:
            raise Forbidden(f"the hub refused: {detail}")
        if response.status_code == 404:
            raise NotFound(detail)
        error = CorralError(f"the hub answered {response.status_code}: {detail}")
        raise error
