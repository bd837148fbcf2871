"""Speaks MCP to one upstream server: its transports (stdio, Streamable HTTP), the client session,
the call lanes, relays of the server's own requests, per-client sessions, its catalog and stderr.

Supervision (when to start, probe, restart, open the circuit) is ``corral.supervisor``'s; this
package only connects and talks, so the hub and a node both use it.
"""
