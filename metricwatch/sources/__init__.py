"""Which runs live under a path (discovery, asking the readers) and loading them with a
cache (stat stamps, byte offsets)."""
