"""What a finished step looks like to the templates of later steps (``steps.<id>``)."""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types

from corral.workflow.store import StepRun


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


def step_view(run: StepRun) -> dict[str, Any]:
    return {
        "result": run.result,
        "status": run.status.value,
        "error": run.error,
        "text": run.result if isinstance(run.result, str) else json.dumps(run.result),
        "attempts": run.attempt,
    }
