"""A migrated store on each backend, for the settings tests."""

from __future__ import annotations
