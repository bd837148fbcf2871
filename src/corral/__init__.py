"""Corral: one hub for a fleet of MCP servers."""

__version__ = "0.1.0"
