"""`metricwatch serve`: the runs under a path as a read-only HTTP JSON API and event stream.

The only package that imports the HTTP library (aiohttp, an optional extra),
and only in `app.py` and `server.py` (and `command.py`, only to say how to
install it when it is missing); the rest (run ids, JSON shapes, the
registry of runs, the event hub, the feed that follows the files) is plain
Python, testable without a server. The files are read exactly as the monitor
reads them: discovery, RunWatcher, RunLoader and run_parts.
"""
