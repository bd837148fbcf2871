"""What the hub tells its operators about itself: context on every log line, Prometheus metrics.

``logcontext`` is a leaf any package may import; ``metrics`` reads the components the composition
root hands it and is imported only there.
"""
