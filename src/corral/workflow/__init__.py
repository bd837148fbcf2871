"""Durable workflows: versioned DAGs of tool calls, checkpointed step by step, resumed after a crash."""
