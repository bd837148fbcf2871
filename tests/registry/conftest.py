"""A migrated store on each backend, for the registry's tests."""

from __future__ import annotations
