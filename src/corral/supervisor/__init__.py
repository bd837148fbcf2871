"""Keeps MCP servers alive: lifecycle, health probes, restarts, circuit breakers.

Speaking MCP to a server (transports, sessions, relays) is ``corral.upstream``'s.
"""
