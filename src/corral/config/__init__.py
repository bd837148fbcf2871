"""Settings of the hub and the config file (incl. the ``mcpServers`` format)."""
