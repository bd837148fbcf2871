"""Patterns: reusable, parametrised workflow templates with preconditions on their target."""
