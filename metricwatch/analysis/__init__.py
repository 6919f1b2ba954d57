"""Pure functions of a run: summary figures, diagnostics, smoothing, downsampling."""
