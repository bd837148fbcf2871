"""What every tool call through the hub shares, from the gateway or a workflow: argument checks, metrics."""
