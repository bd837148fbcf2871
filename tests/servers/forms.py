"""Forms server: one tool, ``order``, whose ``inputSchema`` has what a generated form must draw —
nested objects (``$ref`` to ``$defs``), arrays of objects, enums, ``anyOf`` (a number or a text, and
optional fields), and a free-form object that only a JSON box can hold. It returns the arguments it
received, as parsed (unset optional fields left out), for tests of the dashboard's call form."""

from __future__ import annotations

from typing import Any, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel

mcp: MCPServer = MCPServer("forms")


class Item(BaseModel):
    sku: str
    quantity: int
    colour: Literal["red", "green", "blue"] | None = None


class Address(BaseModel):
    city: str
    zip: str


@mcp.tool(description="Place an order; returns the arguments as received")
def order(
    order_id: str,
    priority: Literal["low", "normal", "high"],
    items: list[Item],
    ship_to: Address,
    contact: int | str,
    note: str | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    received: dict[str, Any] = {
        "order_id": order_id,
        "priority": priority,
        "items": [item.model_dump(mode="json", exclude_unset=True) for item in items],
        "ship_to": ship_to.model_dump(mode="json"),
        "contact": contact,
    }
    if note is not None:
        received["note"] = note
    if extra is not None:
        received["extra"] = extra
    return received


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
