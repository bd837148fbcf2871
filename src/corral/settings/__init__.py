"""Thresholds and intervals that operators tune while the hub runs, kept in the store."""
