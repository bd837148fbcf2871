"""Agents, tasks and routing: a task names a tool or a capability; the dispatcher sends it to the best
eligible agent (``routing.py``), records every attempt in the store, and fails over when a call fails."""
