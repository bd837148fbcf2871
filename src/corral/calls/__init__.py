"""The one path of every tool call through the hub (``path.py``) and what it is made of: argument
checks, MCP task-augmented calls, call metrics."""
