"""Corral's demo MCP server (``python -m corral.demo.server``), handy for trying the hub out."""
