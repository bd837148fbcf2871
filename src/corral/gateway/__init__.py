"""The hub as one MCP server: the aggregated catalog, name routing, relaying, and its endpoints."""
