"""The HTTP surface: REST under /api/v1, health endpoints, error mapping, auth."""
