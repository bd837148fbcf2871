"""Which MCP servers the hub manages: their specs, from the config file and the API."""
