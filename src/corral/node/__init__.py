"""``corral node``: the process on each machine that runs that machine's MCP servers for a hub.

It supervises the servers of its config file with the hub's own supervisor, reports its inventory and
servers, beats, and runs the calls the hub sends it — over NATS only: it opens no port and never
touches the hub's store. ``process.py`` puts it together; ``reporter.py`` speaks for it; ``worker.py``
runs its calls.
"""
