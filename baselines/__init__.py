"""Faithful re-implementations of the published baselines; importing this package registers them."""

from baselines import dlinear  # noqa: F401
