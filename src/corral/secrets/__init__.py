"""Secrets: server env values and headers encrypted at rest, and the masking of anything secret at
the hub's boundaries (logs, server stderr, events, audit entries, API answers)."""
