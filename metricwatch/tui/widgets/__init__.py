"""Thin widgets: they draw what tui.state / tui.charts / the core decided."""
