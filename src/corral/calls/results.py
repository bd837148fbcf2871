"""What a tool call's result is worth to a program (a workflow's templates, a task's result)."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types


def tool_result_value(result: types.CallToolResult) -> Any:
    """The value a tool call returned: its structured content, else its text (parsed when it is JSON)."""
    if result.structured_content is not None:
        content = result.structured_content
        # Tools that return a plain value wrap it as {"result": value}.
        if set(content) == {"result"}:
            return content["result"]
        return content
    text = "".join(block.text for block in result.content if isinstance(block, types.TextContent))
    try:
        return json.loads(text)
    except ValueError:
        return text


def error_text(result: types.CallToolResult, limit: int = 500) -> str:
    """The text a tool that failed on its own (``isError``) gave, cut to ``limit`` characters."""
    text = "".join(block.text for block in result.content if isinstance(block, types.TextContent))
    return text[:limit]
