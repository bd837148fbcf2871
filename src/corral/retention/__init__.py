"""Retention: pruning what the store accumulates, within limits operators set at run time."""
