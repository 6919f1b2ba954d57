"""The Textual app. Importing this package loads nothing heavy: see tui.app for the entry point.

state, charts, ingest and plotting are plain Python (no textual import), so
the drawing and loading rules are testable, and usable by the subprocess
that parses big files, without a terminal.
"""
