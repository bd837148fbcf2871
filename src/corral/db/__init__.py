"""The store's engine, sessions and migrations (SQLite and PostgreSQL)."""
