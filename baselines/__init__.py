"""Faithful re-implementations of the published baselines, one module per model (registered on import)."""
