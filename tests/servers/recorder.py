"""Recorder server: appends one durable JSON line per ``record`` call, for workflow crash tests.

Env ``RECORDER_FILE`` (required by ``record``): the file to append ``{"key", "value", "pid"}`` lines to.
"""

from __future__ import annotations

import json
import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

mcp: MCPServer = MCPServer("recorder")


@mcp.tool(description="Append {key, value, pid} as a JSON line to $RECORDER_FILE (flushed and fsynced)")
def record(key: str, value: str = "") -> str:
    path = os.environ.get("RECORDER_FILE")
    if not path:
        raise ToolError("RECORDER_FILE is not set: the recorder server needs it to record")
    line = json.dumps({"key": key, "value": value, "pid": os.getpid()})
    with open(path, "a", encoding="utf-8") as f:
        f.write(line + "\n")
        f.flush()
        os.fsync(f.fileno())
    return key


if __name__ == "__main__":
    from _serve import serve  # type: ignore[import-not-found,unused-ignore]  # script dir is sys.path[0]

    serve(mcp)
