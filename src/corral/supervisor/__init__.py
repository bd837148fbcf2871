"""Keeps MCP servers alive: connections, health probes, restarts, circuit breakers."""
