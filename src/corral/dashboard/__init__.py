"""The web dashboard: static files (HTML, CSS, plain ES modules, vendored libraries) and their mount.

There is no build step: what is in ``static/`` is what the browser runs. The page lives entirely
on the hub's REST API and its ``/ws/events`` stream; this package only serves the files.
"""
