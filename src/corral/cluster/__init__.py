"""Nodes: the machines servers run on, what each has (inventory) and whether it is alive.

The hub is itself a node (the built-in node); ``corral node`` adds others.
"""
